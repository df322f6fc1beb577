"""A client resumes its TLS session with a device it talked to before
(wsctl.net.tls_sessions): with wsctl's own server, which still knows the
operator from the ticket, and with `openssl s_server` (a peer nobody here
wrote) reporting what it saw."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys

import pytest
import trio
from net_helpers import free_port

from wsctl.core.errors import TLSError
from wsctl.net import tls_sessions
from wsctl.net.api import open_device


@pytest.fixture(autouse=True)
def _no_sessions_from_other_tests():
    tls_sessions.forget()
    yield
    tls_sessions.forget()


@pytest.fixture
def single_use(monkeypatch):
    """Sessions used once, as where reading one does not leak (test_tls_session_leak.py: the other way)."""
    monkeypatch.setattr(tls_sessions, "REUSE_SESSIONS", False)


async def _roundtrip(url: str, **kw) -> bool:
    async with open_device(url, **kw) as dev:
        await dev.send("hi")
        assert await dev.receive(timeout=5) == "hi"
        return dev.tls_resumed


async def test_from_the_third_connection_on_it_resumes_and_the_server_still_knows_the_operator(
    start_server, pki, alice_kw
):
    """The first connection to a device keeps nothing (a fan-out reaches each
    device once: taking a session costs ~0.34 ms), the second keeps its
    session, the third resumes it."""
    seen = []

    def authorize(request):
        seen.append(request.identity)

    server = await start_server(authorize=authorize)
    url = f"wss://127.0.0.1:{server.port}/"
    assert [await _roundtrip(url, **alice_kw) for _ in range(4)] == [False, False, True, True]
    assert len(seen) == 4 and seen[3] == seen[2] == seen[0] and seen[0] is not None
    assert "alice" in repr(seen[3])


async def test_a_session_is_used_once_and_not_for_another_port_or_name(start_server, pki, alice_kw, single_use):
    one, two = await start_server(), await start_server()
    for _ in range(2):
        assert not await _roundtrip(f"wss://127.0.0.1:{one.port}/", **alice_kw)
    assert not await _roundtrip(f"wss://127.0.0.1:{two.port}/", **alice_kw)  # another device: its own session
    assert not await _roundtrip(f"wss://localhost:{one.port}/", **alice_kw)  # another server name
    (where,) = [k for k in tls_sessions._SESSIONS if k[1:] == ("127.0.0.1", one.port, "127.0.0.1")]
    (used,) = [session for session, _ in tls_sessions._SESSIONS[where]]
    async with open_device(f"wss://127.0.0.1:{one.port}/", **alice_kw) as first:
        assert first.tls_resumed
        # the connection that used it leaves the ticket it was given, not the one it used
        (left,) = [session for session, _ in tls_sessions._SESSIONS[where]]
        assert left is not used


async def test_new_client_files_mean_a_full_handshake(start_server, pki, alice_kw):
    server = await start_server()
    url = f"wss://127.0.0.1:{server.port}/"
    assert [await _roundtrip(url, **alice_kw) for _ in range(2)] == [False, False]
    bob = dict(alice_kw, cert=pki.bob.chain, key=pki.bob.key)
    assert [await _roundtrip(url, **bob) for _ in range(2)] == [False, False]  # alice's session is not bob's
    assert await _roundtrip(url, **alice_kw)


async def test_a_restarted_server_makes_a_full_handshake(pki, alice_kw):
    from wsctl.net.api import echo_handler, serve

    port = free_port()
    for expect in (False, False):  # each server: a first connection
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve(
                    echo_handler, port=port, cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root,
                    task_status=task_status,
                )
            )  # fmt: skip
            assert await _roundtrip(f"wss://127.0.0.1:{port}/", **alice_kw) is expect
            nursery.cancel_scope.cancel()


async def test_the_pin_is_checked_on_a_resumed_session(start_server, pki, alice_kw):
    server = await start_server()
    url = f"wss://127.0.0.1:{server.port}/"
    async with open_device(url, **alice_kw) as dev:
        pin = dev.peer_fingerprint
    assert not await _roundtrip(url, pin=pin, **alice_kw)  # the second connection keeps a session
    assert await _roundtrip(url, pin=pin, **alice_kw)  # resumed, and leaves one for the wrong pin below
    with pytest.raises(TLSError, match="does not match the pin"):
        await _roundtrip(url, pin="sha256:" + "00" * 32, **alice_kw)


async def test_an_old_session_is_not_offered(start_server, pki, alice_kw, monkeypatch):
    server = await start_server()
    url = f"wss://127.0.0.1:{server.port}/"
    monkeypatch.setattr(tls_sessions, "MAX_AGE", 0.0)
    assert not await _roundtrip(url, **alice_kw)
    assert not await _roundtrip(url, **alice_kw)


def test_the_kept_sessions_are_bounded(monkeypatch, single_use):
    monkeypatch.setattr(tls_sessions, "MAX_SESSIONS", 3)

    class Fake:
        session_reused = False

        def __init__(self):
            self.session = type("S", (), {"has_ticket": True, "id": b"x", "timeout": 7200})()

        def version(self):
            return "TLSv1.3"

    for port in range(5):
        for _ in range(2):  # the second connection keeps
            tls_sessions.keep(Fake(), ("ctx", "h", port, "h"))
    assert [k[2] for k in tls_sessions._SESSIONS] == [2, 3, 4]
    monkeypatch.setattr(tls_sessions, "PER_DEVICE", 2)
    for _ in range(5):
        tls_sessions.keep(Fake(), ("ctx", "h", 4, "h"))
    assert len(tls_sessions._SESSIONS[("ctx", "h", 4, "h")]) == 2
    for port in range(5):
        tls_sessions.refused(("ctx", "h", 10 + port, "h"))
    assert len(tls_sessions._REFUSED) <= 3


def _s_server(port: int, pki, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["openssl", "s_server", "-accept", str(port), "-cert", str(pki.device.cert), "-cert_chain",
         str(pki.device.chain), "-key", str(pki.device.key), "-CAfile", str(pki.root), "-Verify", "2",
         "-tls1_3", "-num_tickets", "1", "-rev", "-quiet", *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
async def test_resumption_against_openssl_s_server(pki, alice_kw):
    """s_server is not a WebSocket server: the upgrade fails, but only after its
    answer was read, which is where the session is kept; the TLS layer alone is
    driven here through `client_open.open_tls`, as open_device drives it."""
    from wsctl.net import client_open
    from wsctl.net.tls import cached_client_context

    port = free_port()
    proc = _s_server(port, pki)
    try:
        ctx = cached_client_context(ca=alice_kw["ca"], cert=alice_kw["cert"], key=alice_kw["key"])
        target = client_open.parse_target(f"wss://127.0.0.1:{port}/")
        resumed = []
        for _ in range(4):
            with trio.fail_after(10):
                while True:
                    try:
                        stream, der = await client_open.open_tls(target, ctx, deadline=trio.current_time() + 5)
                        break
                    except Exception:  # s_server not listening yet
                        await trio.sleep(0.05)
                await stream.send_all(b"abc\n")
                assert (await stream.receive_some(100)).startswith(b"cba")  # -rev: a read, the ticket with it
                resumed.append(stream.session_reused)
                client_open.keep_tls_session(stream, ctx, target, None)
                await stream.aclose()
        assert resumed == [False, False, True, True]
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(sys.platform != "linux", reason="ssl session details as on Linux' OpenSSL")
def test_a_tls12_session_without_a_ticket_is_kept_by_its_id(single_use):
    class Fake:
        def __init__(self, has_ticket, sid, version):
            self.session = type("S", (), {"has_ticket": has_ticket, "id": sid, "timeout": 300})()
            self._v = version

        def version(self):
            return self._v

    for _ in range(2):
        tls_sessions.keep(Fake(False, b"", "TLSv1.3"), ("c", "h", 1, "h"))  # no ticket yet: not resumable
        tls_sessions.keep(Fake(False, b"id", "TLSv1.2"), ("c", "h", 2, "h"))
    assert [k[2] for k in tls_sessions._SESSIONS] == [2]
    assert ssl.HAS_TLSv1_3


async def test_a_device_that_failed_a_resumed_handshake_is_not_offered_one_again(pki, alice_kw):
    from wsctl.core.errors import WsctlError
    from wsctl.net.api import echo_handler, serve
    from wsctl.net.tls import server_context

    ctx = server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root)  # the same ticket keys
    port = free_port()
    url = f"wss://127.0.0.1:{port}/"

    async def with_server(*expected):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve(echo_handler, port=port, ssl_context=ctx, task_status=task_status)
            )
            got = [await _roundtrip(url, **alice_kw) for _ in expected]
            nursery.cancel_scope.cancel()
        assert got == list(expected)

    await with_server(False, False, True)  # the same context resumes

    async def hang_up(stream):  # a TLS stack that gives up on the offered session
        await stream.receive_some(4096)
        await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_tcp, hang_up, port)
        with pytest.raises(WsctlError):
            await _roundtrip(url, **alice_kw)
        nursery.cancel_scope.cancel()
    await with_server(False, False, False)  # and it would have resumed the second time


def test_offering_a_session_takes_it(single_use):
    class Fake:
        session = None

        def version(self):
            return "TLSv1.3"

    kept = Fake()
    kept.session = type("S", (), {"has_ticket": True, "id": b"x", "timeout": 7200})()
    kept.session_reused = False
    tls_sessions.keep(kept, ("ctx", "h", 1, "h"))  # a first connection: seen
    tls_sessions.keep(kept, ("ctx", "h", 1, "h"))
    taker = Fake()
    assert tls_sessions.offer(taker, ("ctx", "h", 1, "h")) and taker.session is kept.session
    assert not tls_sessions.offer(Fake(), ("ctx", "h", 1, "h"))


async def test_a_chain_of_resumptions_ends_max_age_after_its_full_handshake(start_server, pki, alice_kw, monkeypatch):
    """Each resumed connection gets a new ticket; it keeps the deadline of the
    session it used, so a device reached every 500 s has its chain checked
    again after 600 s, not never."""
    server = await start_server()
    url = f"wss://127.0.0.1:{server.port}/"
    now = [1000.0]
    monkeypatch.setattr(tls_sessions, "_clock", lambda: now[0])
    resumed = []
    for _ in range(5):
        resumed.append(await _roundtrip(url, **alice_kw))
        now[0] += 500
    # t=1000 seen, 1500 kept (until 2100), 2000 resumed (its ticket: until 2100), 2500 full, 3000 resumed
    assert resumed == [False, False, True, False, True]
