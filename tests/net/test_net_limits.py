"""Limits an unauthenticated or a greedy peer cannot exhaust (issue 8, items 5 and 6).

Stalled handshakes come from raw sockets bound to other loopback addresses
(127.0.0.2 ...), so that the per-address bound and the global one can be told
apart; the good client is alice with her certificate, from 127.0.0.1.
"""

from __future__ import annotations

import logging

import pytest
import trio
from net_helpers import close_of, frame, raw_client, read_to_eof

from wsctl.core.errors import ConnectionClosed, InvalidInput
from wsctl.net.api import open_device, serve

# the first bytes of a ClientHello: the server's TLS handshake waits for the rest
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 16


async def _stallers(port: int, sources: list[str], each: int, hello: bool = False) -> list[trio.SocketStream]:
    out = []
    for source in sources:
        for _ in range(each):
            s = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
            if hello:
                await s.send_all(PARTIAL_HELLO)
            out.append(s)
    return out


async def _roundtrip(url, kw):
    async with open_device(url, **kw) as dev:
        await dev.send("ping")
        return await dev.receive(timeout=5)


async def _until(predicate, timeout=5):
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


async def _closed_by_server(stream: trio.SocketStream) -> bool:
    """The server hung up on this socket (EOF or reset)."""
    with trio.fail_after(5):
        try:
            return await stream.receive_some(100) == b""
        except trio.BrokenResourceError:
            return True


async def test_stalled_handshakes_do_not_lock_out_an_authenticated_client(start_server, alice_kw):
    records = []
    # more stallers than max_handshakes and than max_connections; a handshake
    # timeout far beyond the test, so nothing but the admission frees a slot
    server = await start_server(
        max_connections=4,
        max_handshakes=8,
        max_handshakes_per_source=4,
        handshake_timeout=60,
        access_log=records.append,
    )
    idle = await _stallers(server.port, [f"127.0.0.{i}" for i in range(2, 7)], 4)
    half_tls = await _stallers(server.port, ["127.0.0.7", "127.0.0.8"], 4, hello=True)
    await _until(lambda: server.total == len(idle) + len(half_tls) and server.connections == 8)
    assert server.admission.pending == 8  # the newest 8; the older ones were dropped for them
    with trio.fail_after(10):
        for _ in range(3):
            assert await _roundtrip(server.url, alice_kw) == "ping"
    assert server.admission.pending <= 8
    evicted = [r for r in records if r.outcome == "refused"]
    assert len(evicted) >= 16 and "max_handshakes" in evicted[0].error
    await _until(lambda: len([r for r in records if r.outcome == "closed"]) == 3)
    assert [r.identity.name for r in records if r.outcome == "closed"] == ["alice"] * 3
    for s in idle + half_tls:
        await s.aclose()


async def test_one_address_waits_for_its_own_slots_and_others_are_not_held_up(start_server, alice_kw, pki):
    records = []
    server = await start_server(
        max_handshakes=6, max_handshakes_per_source=2, handshake_timeout=60, access_log=records.append
    )
    stalled = await _stallers(server.port, ["127.0.0.9"], 2, hello=True)
    await _until(lambda: server.admission.pending == 2)
    # a real client from the same address waits: nothing is read from it...
    done = []

    async def same_address():
        tls, rest = await raw_client(server.port, pki, source="127.0.0.9")
        done.append(tls)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(same_address)
        await _until(lambda: server.admission.waiting("127.0.0.9") == 1)
        # ...while another address gets in at once
        with trio.fail_after(5):
            assert await _roundtrip(server.url, alice_kw) == "ping"
        assert not done
        # past max_handshakes waiting from one address, the next is refused outright
        waiting = await _stallers(server.port, ["127.0.0.9"], 5)
        await _until(lambda: server.admission.waiting("127.0.0.9") == 6)
        extra = await _stallers(server.port, ["127.0.0.9"], 1)
        assert await _closed_by_server(extra[0])
        await _until(lambda: any(r.outcome == "refused" for r in records))
        assert any(r.outcome == "refused" and "waiting from 127.0.0.9" in r.error for r in records)
        # a stalled handshake of its own address ends: the waiting client goes on
        await stalled[0].aclose()
        await _until(lambda: bool(done))
    await done[0].aclose()
    for s in stalled[1:] + waiting + extra:
        await s.aclose()
    await _until(lambda: server.connections == 0)
    assert server.admission.sources == 0 and server.admission.pending == 0 and server.admission.open == 0


async def test_pending_and_waiting_handshakes_are_bounded_by_the_handshake_timeout(start_server):
    records = []
    server = await start_server(max_handshakes_per_source=2, handshake_timeout=0.5, access_log=records.append)
    socks = await _stallers(server.port, ["127.0.0.10"], 2, hello=True) + await _stallers(
        server.port, ["127.0.0.10"], 1
    )
    for s in socks:
        assert await _closed_by_server(s)
    await _until(lambda: len(records) == 3)
    # the third waited for a slot of its address, then had its own handshake timeout
    assert all(
        r.outcome == "timeout" and ("TLS handshake not finished" in r.error or "no handshake slot" in r.error)
        for r in records
    )
    assert server.admission.pending == 0 and server.connections == 0 and server.admission.sources == 0
    for s in socks:
        await s.aclose()


async def test_handshake_limits_must_be_positive(pki):
    for bad in (
        {"max_handshakes": 0},
        {"max_handshakes_per_source": 0},
        {"max_buffered_bytes": 10, "max_message_size": 100},
    ):
        with pytest.raises(InvalidInput):
            await serve(lambda conn: None, cert_chain=pki.device.chain, key=pki.device.key, **bad)


async def test_unread_bytes_are_bounded_per_connection_and_the_peer_is_closed_1008(start_server, pki, caplog):
    """An observer that sends 64 KiB frames to a handler that never reads: the
    server holds at most max_buffered_bytes for it, then closes with 1008."""
    records = []
    started = trio.Event()
    seen = []

    async def never_reads(conn):
        seen.append(conn)
        started.set()
        await trio.sleep_forever()

    limit = 256 * 1024
    server = await start_server(
        never_reads, max_message_size=64 * 1024, max_buffered_bytes=limit, close_timeout=0.5, access_log=records.append
    )
    chunk = frame(0x2, b"x" * 65536)
    caplog.set_level(logging.WARNING, "wsctl.net.server")
    with trio.fail_after(10):
        tls, rest = await raw_client(server.port, pki)
        await started.wait()
        received = []

        async def collect():
            # reading while sending: the close frame is read as it arrives, not
            # after a reset that our unread sends could provoke
            received.append(await read_to_eof(tls, rest))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            try:
                for _ in range(16):  # 1 MiB offered, 4 times the bound
                    await tls.send_all(chunk)
                    assert seen[0].buffered <= limit
            except trio.BrokenResourceError:
                pass  # the server hung up while we were still sending
        data = received[0]
    assert close_of(data) is not None and close_of(data)[0] == 1008
    await _until(lambda: bool(records))
    rec = records[0]
    assert rec.close_code == 1008 and rec.closed_by == "server"
    assert limit - 65536 < rec.peak_buffered <= limit
    assert "--max-buffered-bytes" in rec.error and any("1008" in m for m in caplog.messages)
    assert "cancelled" in rec.error  # the handler that never read was stopped


async def test_a_device_flooding_an_unread_client_is_closed_1008(nursery, pki):
    from net_helpers import raw_device

    async def device(stream):
        try:
            for _ in range(64):
                await stream.send_all(frame(0x2, b"y" * 65536, mask=False))
        except trio.BrokenResourceError:
            pass
        await read_to_eof(stream)

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(10):
        async with open_device(url, ca=pki.root, max_message_size=65536, max_buffered_bytes=256 * 1024) as dev:
            await _until(lambda: dev.closed is not None)
            assert dev._ws.peak_buffered <= 256 * 1024
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await dev.receive(timeout=5)
    assert info.value.code == 1008 and "the client closed the connection" in str(info.value)
