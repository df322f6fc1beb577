"""Resumption without CPython gh-116810's leak: where reading ``SSLObject.session``
leaks (`tls_sessions.REUSE_SESSIONS`), a session is read once per full handshake
and reused, so RSS stays flat over many resumed connections to one device."""

from __future__ import annotations

import sys

import pytest
import trio

from wsctl.net import tls_sessions


@pytest.fixture(autouse=True)
def _no_sessions_from_other_tests():
    tls_sessions.forget()
    yield
    tls_sessions.forget()


#: the client alone in a child process: pytest keeps every log record of a test
#: (an access line per connection), and the server's memory is not the question
_LOOP = """
import gc, sys, trio
from wsctl.net.api import open_device

url, root, chain, key, n = sys.argv[1:]

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

async def one():
    async with open_device(url, ca=root, cert=chain, key=key) as dev:
        await dev.send("hi")
        assert await dev.receive(timeout=5) == "hi"
        return dev.tls_resumed

async def main():
    for _ in range(100):  # warm up: caches, the allocator's arenas
        await one()
    gc.collect()
    before = rss()
    resumed = sum([await one() for _ in range(int(n))])
    gc.collect()
    print(resumed, rss() - before)

trio.run(main)
"""


@pytest.mark.skipif(
    not getattr(tls_sessions, "REUSE_SESSIONS", True), reason="this interpreter's session getter does not leak"
)
async def test_resumed_connections_do_not_grow_native_memory(start_server, pki):
    n = 1000
    server = await start_server()
    args = [f"wss://127.0.0.1:{server.port}/", pki.root, pki.alice.chain, pki.alice.key, n]
    run = await trio.run_process(
        [sys.executable, "-c", _LOOP, *map(str, args)], capture_stdout=True, capture_stderr=True, check=False
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    resumed, grown = map(int, run.stdout.split())
    assert resumed == n
    assert grown < 2048, f"RSS +{grown} KiB over {n} resumed connections (the leak was ~7 KiB each)"


class _Counted:
    """A stream whose ``session`` reads are counted (what leaked)."""

    def __init__(self, reused: bool) -> None:
        self.session_reused = reused
        self.reads = 0
        self._session = type("S", (), {"has_ticket": True, "id": b"x", "timeout": 7200})()

    @property
    def session(self):
        self.reads += 1
        return self._session

    @session.setter
    def session(self, value):
        self._session = value

    def version(self) -> str:
        return "TLSv1.3"


def test_with_reused_sessions_only_a_full_handshake_reads_the_session(monkeypatch):
    monkeypatch.setattr(tls_sessions, "REUSE_SESSIONS", True)
    where = ("ctx", "h", 1, "h")
    first, full = _Counted(False), _Counted(False)
    tls_sessions.keep(first, where)  # seen
    tls_sessions.keep(full, where)  # kept
    assert (first.reads, full.reads) == (0, 1)
    for _ in range(5):
        again = _Counted(True)
        assert tls_sessions.offer(again, where) and again._session is full._session  # offered, and left
        tls_sessions.keep(again, where)
        assert again.reads == 0
    replaced = _Counted(False)  # the server ignored the ticket: a full handshake's session replaces it
    assert tls_sessions.offer(replaced, where)
    replaced._session = type("S", (), {"has_ticket": True, "id": b"y", "timeout": 7200})()
    tls_sessions.keep(replaced, where)
    assert [s for s, _ in tls_sessions._SESSIONS[where]] == [replaced._session]
