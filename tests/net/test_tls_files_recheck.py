"""A fleet looks at its TLS files once a second, not once per connection
(`tls.files_rechecked_every_second`, entered by `cli.support.fleet.fan_out`),
and a renewed certificate is still picked up: by a connection opened a second
later, and by every later command."""

from __future__ import annotations

import os
import shutil

import trio

from wsctl.net import tls


def _renew(pki, files, operator) -> None:
    """The identity's files rewritten in place (as a renewal does), with a new mtime."""
    shutil.copyfile(operator.chain, files["cert"])
    shutil.copyfile(operator.key, files["key"])
    later = os.stat(files["cert"]).st_mtime_ns + 10**9
    for name in (files["cert"], files["key"]):
        os.utime(name, ns=(later, later))


def _identity(pki, tmp_path) -> dict:
    # the CAs as a list, as the CLI gives them
    files = dict(ca=[str(pki.root)], cert=str(tmp_path / "chain.pem"), key=str(tmp_path / "key.pem"))
    shutil.copyfile(pki.alice.chain, files["cert"])
    shutil.copyfile(pki.alice.key, files["key"])
    return files


def _context(files) -> object:
    return tls.cached_client_context(**files, password=None, insecure=False, verify=True)


def _counted_stats(monkeypatch, tmp_path) -> list[str]:
    looked: list[str] = []
    plain = os.stat

    def counted(name, *a, **kw):
        if str(name).startswith(str(tmp_path)):
            looked.append(str(name))
        return plain(name, *a, **kw)

    monkeypatch.setattr(tls.os, "stat", counted)
    return looked


def test_in_a_fleet_the_files_are_looked_at_once_a_second(pki, tmp_path, monkeypatch):
    files = _identity(pki, tmp_path)
    now = [1000.0]
    monkeypatch.setattr(tls, "_clock", lambda: now[0])
    looked = _counted_stats(monkeypatch, tmp_path)
    with tls.files_rechecked_every_second():
        first = _context(files)
        once = len(looked)  # the mtimes, and the files read to build the context
        assert all(_context(files) is first for _ in range(50))
        assert len(looked) == once  # not 100 more
        _renew(pki, files, pki.bob)
        now[0] += 0.5
        assert _context(files) is first  # within the second: not looked at yet
        now[0] += 0.6
        renewed = _context(files)
        assert renewed is not first  # a connection a second later dials with the renewed files


def test_a_later_command_picks_up_a_renewed_certificate_at_once(pki, tmp_path, monkeypatch):
    files = _identity(pki, tmp_path)
    monkeypatch.setattr(tls, "_clock", lambda: 1000.0)  # no time passes
    with tls.files_rechecked_every_second():
        first = _context(files)
    _renew(pki, files, pki.bob)
    with tls.files_rechecked_every_second():  # the next command
        assert _context(files) is not first
    _renew(pki, files, pki.alice)
    assert _context(files) is not first  # outside a fleet (the Python API): every call looks


async def test_the_fleet_runs_its_jobs_inside_the_once_a_second_scope():
    from wsctl.cli.support.fleet import fan_out
    from wsctl.core.device_entry import DeviceEntry

    seen: list[object] = []

    async def job(entry):
        seen.append(tls._recent.get())
        await trio.lowlevel.checkpoint()

    entries = [DeviceEntry(name=f"d{i}", url=f"wss://d{i}/") for i in range(3)]
    await fan_out(entries, job, parallel=2, on_done=lambda outcome: None)
    assert len(seen) == 3 and all(s is seen[0] and s is not None for s in seen)  # one scope for the fleet
    assert tls._recent.get() is None  # and undone after it
