"""A client refuses a device whose certificate the CRL revokes: `--crl FILE`,
the inventory's `crl`, and by default the store's CRL whenever the store's CA
is the one trusted (`--certs` without `--ca`).  The device is a real
`wsctl serve` presenting a certificate the store then revoked."""

from __future__ import annotations

import shutil

import pytest
import trio
from client_helpers import PASSWORD, start_server, wsctl, wsctl_in_process

from wsctl.core.errors import InvalidInput, TLSError, UsageError
from wsctl.net import tls_sessions
from wsctl.net.api import open_device


@pytest.fixture(scope="module")
def revoked_plant(tmp_path_factory):
    """A store with operator alice and devices `gone` (revoked) and `kept`."""
    certs = tmp_path_factory.mktemp("crl-plant") / "certs"
    for step in (
        ["init", "--name", "CRL Test CA"],
        ["issue", "device", "gone", "--dns", "localhost", "--ip", "127.0.0.1"],
        ["issue", "device", "kept", "--dns", "localhost", "--ip", "127.0.0.1"],
        ["issue", "operator", "alice", "--role", "engineer"],
        ["revoke", "gone", "--reason", "key-compromise"],
    ):
        out = wsctl_in_process("certs", "--dir", str(certs), *step)
        assert out.returncode == 0, (step, out.stderr)
    return certs


@pytest.fixture(scope="module")
def servers(revoked_plant):
    started = {
        name: start_server("--echo", "--certs", str(revoked_plant), "--device", name) for name in ("gone", "kept")
    }
    yield {name: server.url for name, server in started.items()}
    for server in started.values():
        server.proc.kill()
        server.proc.wait(timeout=10)


def _op(certs):
    return ["--certs", str(certs), "--operator", "alice"]


def test_the_store_s_crl_refuses_a_revoked_device(revoked_plant, servers):
    out = wsctl("send", servers["gone"], "--raw", "x", *_op(revoked_plant))
    assert out.returncode == 4, out.stderr
    assert "device certificate is revoked" in out.stderr
    ok = wsctl("send", servers["kept"], "--raw", "x", *_op(revoked_plant))
    assert ok.returncode == 0 and "x" in ok.stdout, ok.stderr


def test_another_ca_means_no_store_crl_unless_given(revoked_plant, servers):
    ca = str(revoked_plant / "ca" / "root.crt")
    crl = str(revoked_plant / "ca" / "crl.pem")
    without = wsctl("send", servers["gone"], "--raw", "x", *_op(revoked_plant), "--ca", ca)
    assert without.returncode == 0, without.stderr  # the user's own CA: their CRL, if any, is theirs to give
    given = wsctl("send", servers["gone"], "--raw", "x", *_op(revoked_plant), "--ca", ca, "--crl", crl)
    assert given.returncode == 4 and "revoked" in given.stderr, given.stderr
    der = wsctl("send", servers["gone"], "--raw", "x", *_op(revoked_plant), "--ca", ca, "--crl", crl[:-3] + "der")
    assert der.returncode == 4 and "revoked" in der.stderr, der.stderr


def test_the_inventory_s_crl_is_checked(revoked_plant, servers, tmp_path):
    ca = revoked_plant / "ca" / "root.crt"
    (tmp_path / "inv.toml").write_text(
        f'[devices.gone]\nurl = "{servers["gone"]}"\nca = "{ca}"\ncrl = "{revoked_plant / "ca" / "crl.pem"}"\n'
        f'cert = "{revoked_plant / "operators" / "alice" / "chain.pem"}"\n'
        f'key = "{revoked_plant / "operators" / "alice" / "key.pem"}"\n'
    )
    out = wsctl("send", "gone", "--raw", "x", "--inventory", str(tmp_path / "inv.toml"))
    assert out.returncode == 4 and "revoked" in out.stderr, out.stderr


def test_a_crl_without_the_chain_check_is_refused(revoked_plant, servers):
    crl = str(revoked_plant / "ca" / "crl.pem")
    insecure = wsctl("send", servers["kept"], "--raw", "x", "--insecure", "--crl", crl)
    assert insecure.returncode == 8 and "without --insecure" in insecure.stderr, insecure.stderr


async def test_a_device_revoked_while_a_session_is_kept_is_refused_next_time(revoked_plant, tmp_path):
    """The client keeps a resumable session with `kept`; the store revokes
    `kept` and publishes its CRL; the next connection in the same process makes
    a full handshake with the new CRL (a new context) and is refused."""
    store = tmp_path / "certs"
    shutil.copytree(revoked_plant, store)
    server = start_server("--echo", "--certs", str(store), "--device", "kept")
    try:
        tls_sessions.forget()
        kw = dict(
            ca=store / "ca" / "root.crt", crl=store / "ca" / "crl.pem", cert=store / "operators" / "alice" / "chain.pem",
            key=store / "operators" / "alice" / "key.pem", password=PASSWORD,
        )  # fmt: skip
        for expect_resumed in (False, False, True):
            async with open_device(server.url, **kw) as dev:
                await dev.send("x")
                assert await dev.receive(timeout=5) == "x"
                assert dev.tls_resumed is expect_resumed
        out = await trio.to_thread.run_sync(
            lambda: wsctl("certs", "--dir", str(store), "revoke", "kept", "--reason", "superseded")
        )
        assert out.returncode == 0, out.stderr
        with pytest.raises(TLSError, match="device certificate is revoked"):
            async with open_device(server.url, **kw):
                pass
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)
        tls_sessions.forget()


async def test_the_api_refuses_a_crl_it_cannot_check(revoked_plant):
    crl = revoked_plant / "ca" / "crl.pem"
    with pytest.raises(InvalidInput, match="give the CA it belongs to"):
        open_device("wss://127.0.0.1:1/", crl=crl)
    import ssl

    with pytest.raises(UsageError, match="not with ssl_context"):
        open_device("wss://127.0.0.1:1/", crl=crl, ssl_context=ssl.create_default_context())


def test_insecure_checks_no_crl_either(revoked_plant, servers):
    """--insecure with the store (often: WSCTL_CERTS set) still connects, as it
    did before the store's CRL was checked: it checks nothing, and says so."""
    out = wsctl("send", servers["gone"], "--raw", "x", *_op(revoked_plant), "--insecure")
    assert out.returncode == 0 and "x" in out.stdout, out.stderr
    assert "NOT verified" in out.stderr
