"""The write side (wsctl.net.ws_writer through wsctl.net.websocket) over real
TLS connections: a burst leaves in few writes and in order, a request/response
exchange writes each frame at once, senders wait once `WRITE_HIGH_WATER` bytes
are queued, and a peer that stops reading or goes away never leaves a sender
hanging or a frame after the close frame.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_helpers import (
    UPGRADE,
    _accept_key,
    close_payload,
    device_listener,
    frame,
    raw_client,
    raw_device,
    read_frames,
    read_to_eof,
)

from wsctl.net import ws_writer
from wsctl.net.websocket import ConnectionClosed, WebSocket
from wsctl.net.ws_writer import WRITE_HIGH_WATER

TEXT_OP, CLOSE_OP = 0x1, 0x8


class CountingStream(trio.abc.Stream):
    """A real stream, with its ``send_all`` calls counted."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner, self.writes = inner, 0

    async def send_all(self, data) -> None:
        self.writes += 1
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes=None) -> bytes:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


async def _client_of(url: str, pki, *, sndbuf: int | None = None) -> WebSocket:
    """wsctl's WebSocket as a client of a `raw_device`, the upgrade made by hand."""
    tls, rest = await raw_client(_port(url), pki, sndbuf=sndbuf)
    return WebSocket(tls, is_server=False, initial=rest)


async def _send_until_closed(ws: WebSocket, message: str | bytes, outcome: list[object]) -> None:
    """Send ``message`` over and over; the ConnectionClosed that ends it goes to ``outcome``."""
    try:
        while True:
            await ws.send_message(message)
    except ConnectionClosed as exc:
        outcome.append(exc)


async def test_a_burst_leaves_in_few_writes_and_in_order(start_server, pki):
    server = await start_server()  # wsctl's echo: its answers to the burst are coalesced too
    tls, rest = await raw_client(server.port, pki)
    counted = CountingStream(tls)
    ws = WebSocket(counted, is_server=False, initial=rest)
    n, got = 2000, []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:

            async def burst() -> None:
                for i in range(n):
                    await ws.send_message(f"m{i}")

            nursery.start_soon(burst)
            while len(got) < n:
                got.append(await ws.get_message())
        await ws.aclose()
    assert got == [f"m{i}" for i in range(n)]
    # 2,000 frames in a handful of writes (one each before the writer)
    assert counted.writes <= n // 10, counted.writes
    assert ws.closed is not None and ws.closed.code == 1000


async def test_a_request_and_its_reply_are_written_at_once(start_server, pki):
    server = await start_server()
    tls, rest = await raw_client(server.port, pki)
    counted = CountingStream(tls)
    ws = WebSocket(counted, is_server=False, initial=rest)
    with trio.fail_after(10):
        for i in range(20):
            # a request follows its reply after a pause; the pause is made sure of
            # here, since the reply may already be in the socket when the process
            # is preempted between its write and the writer noting the time
            await trio.sleep(2 * ws_writer.BURST_GAP)
            before = counted.writes
            await ws.send_message(f"q{i}")
            # written by the sender itself, before send_message returned
            assert counted.writes == before + 1
            assert ws.unsent == 0
            assert await ws.get_message() == f"q{i}"
        await ws.aclose()


async def test_the_end_of_a_burst_and_its_close_reply_are_not_cut_off(nursery, pki):
    """The server queues a burst, then reads the client's close frame: it answers
    and closes the TCP connection at once (RFC 6455 7.1.1) — after the queue is written."""

    async def accept(stream, request) -> None:
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n\r\n"
        )
        ws = WebSocket(stream, is_server=True, initial=request.split(b"\r\n\r\n", 1)[1])
        for i in range(500):
            await ws.send_message(f"m{i}")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()  # the client's close, sent before the burst began

    url = await device_listener(nursery, pki, accept)
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    with trio.fail_after(10):
        tls = trio.SSLStream(await trio.open_tcp_stream("127.0.0.1", _port(url)), ctx, server_hostname="127.0.0.1")
        await tls.send_all(UPGRADE + frame(CLOSE_OP, close_payload(1000)))
        data = await read_to_eof(tls)
    frames = read_frames(data.split(b"\r\n\r\n", 1)[1])
    assert [p.decode() for op, p in frames if op == TEXT_OP] == [f"m{i}" for i in range(500)]
    assert [op for op, _ in frames][-1] == CLOSE_OP and [op for op, _ in frames].count(CLOSE_OP) == 1


async def test_nothing_follows_the_close_frame_not_even_a_sender_that_waited_for_room(nursery, pki, monkeypatch):
    monkeypatch.setattr(ws_writer, "BURST_GAP", 10.0)  # every write after the first is queued
    go, seen = trio.Event(), []

    async def device(stream) -> None:
        await go.wait()
        seen.append(await read_to_eof(stream))

    url = await raw_device(nursery, pki, device)
    ws = await _client_of(url, pki, sndbuf=4096)
    outcome: list[object] = []

    async def closer() -> None:
        with trio.move_on_after(2):  # the device never answers the close
            await ws.aclose()

    with trio.fail_after(15):
        async with trio.open_nursery() as inner:
            inner.start_soon(_send_until_closed, ws, "d" * 16384, outcome)
            while ws.unsent < WRITE_HIGH_WATER:
                await trio.sleep(0.01)
            await trio.sleep(0.1)  # the sender waits for room now
            inner.start_soon(closer)
            await trio.sleep(0.1)  # the close frame is queued (not waiting for room)
            go.set()  # the device reads: room again, and the waiting sender is refused
        while not seen:
            await trio.sleep(0.01)
    assert len(outcome) == 1
    ops = [op for op, _ in read_frames(seen[0])]
    assert ops[-1] == CLOSE_OP and ops.count(CLOSE_OP) == 1, ops[-3:]


async def test_senders_wait_at_the_high_water_mark_and_a_cancelled_one_queued_nothing(nursery, pki, monkeypatch):
    monkeypatch.setattr(ws_writer, "BURST_GAP", 10.0)  # every write after the first is queued

    async def device(stream) -> None:
        await trio.sleep_forever()  # reads nothing: the kernel's buffers fill, then ours

    url = await raw_device(nursery, pki, device)
    ws = await _client_of(url, pki, sndbuf=4096)
    chunk = b"x" * 16384
    sent = 0
    with trio.move_on_after(1.5) as waited:
        while True:
            await ws.send_message(chunk)
            sent += 1
            assert ws.unsent <= WRITE_HIGH_WATER + len(chunk) + 16
    assert waited.cancelled_caught, "a peer that reads nothing must make the sender wait"
    held = ws.unsent
    assert held >= WRITE_HIGH_WATER  # it waited because the queue was full, not before
    with trio.move_on_after(0.2):
        await ws.send_message(chunk)  # waits for room; cancelled there
    assert ws.unsent == held  # the cancelled sender queued nothing
    with trio.fail_after(5), trio.move_on_after(0.5):
        await ws.aclose()  # never answered: the caller bounds it, the stream is closed after
    with pytest.raises(ConnectionClosed):
        await ws.send_message(b"after")


async def test_a_sender_waiting_for_room_is_released_by_the_close(nursery, pki, monkeypatch):
    monkeypatch.setattr(ws_writer, "BURST_GAP", 10.0)

    async def device(stream) -> None:
        await trio.sleep_forever()

    url = await raw_device(nursery, pki, device)
    ws = await _client_of(url, pki, sndbuf=4096)
    outcome: list[object] = []

    with trio.fail_after(10):
        async with trio.open_nursery() as inner:
            inner.start_soon(_send_until_closed, ws, b"y" * 16384, outcome)
            while ws.unsent < WRITE_HIGH_WATER:
                await trio.sleep(0.01)
            await trio.sleep(0.1)  # the sender is waiting for room now
            with trio.move_on_after(0.5):
                await ws.aclose()
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionClosed)


async def test_a_peer_that_goes_away_mid_burst_ends_the_sender_with_connection_closed(nursery, pki):
    async def device(stream) -> None:
        await stream.receive_some(4096)
        await trio.aclose_forcefully(stream)

    url = await raw_device(nursery, pki, device)
    ws = await _client_of(url, pki)
    with trio.fail_after(10):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.send_message(b"z" * 1024)
                await trio.sleep(0)
    assert ws.unsent == 0


async def test_a_sender_with_work_between_its_queued_writes_still_lets_others_run(start_server, pki):
    import time

    server = await start_server()
    tls, rest = await raw_client(server.port, pki)
    ws = WebSocket(tls, is_server=False, initial=rest)
    ticks = [0]

    async def ticker() -> None:
        while True:
            await trio.sleep(0)
            ticks[0] += 1

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.sleep(0.01)
            await ws.send_message("a")
            await ws.send_message("b")  # at once after the first: queued, the flusher is due
            before = ticks[0]
            for i in range(20):
                time.sleep(0.001)  # the handler's own work, no await in it
                await ws.send_message(f"w{i}")
            during = ticks[0] - before
            nursery.cancel_scope.cancel()
        got = [await ws.get_message() for _ in range(22)]
        with trio.move_on_after(2):
            await ws.aclose()
    assert got == ["a", "b", *(f"w{i}" for i in range(20))]
    assert during >= 10, during  # without the yield: 0 until the sender awaited something else


async def test_failing_a_connection_whose_peer_reads_nothing_ends_in_bounded_time(nursery, pki, monkeypatch):
    """The peer sends a frame we refuse while our writes to it are stuck: the
    failure (shielded: close frame, linger, close) still ends, the stuck write included."""
    monkeypatch.setattr(ws_writer, "BURST_GAP", 10.0)
    stuck = trio.Event()

    async def device(stream) -> None:
        await stuck.wait()
        await stream.send_all(frame(0x3, b""))  # a reserved opcode: 1002
        await trio.sleep_forever()

    url = await raw_device(nursery, pki, device)
    ws = await _client_of(url, pki, sndbuf=4096)

    async def sender() -> None:
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.send_message(b"s" * 16384)

    with trio.fail_after(20):
        async with trio.open_nursery() as inner:
            inner.start_soon(sender)
            while ws.unsent < WRITE_HIGH_WATER:
                await trio.sleep(0.01)
            stuck.set()
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
    assert ws.failure is not None and ws.failure.code == 1002


async def _echo_until_closed(ws: WebSocket) -> None:
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


async def _mixed_senders(plan: list[list[tuple[int, bool]]]) -> list[str]:
    """Senders of ``plan`` on one client connection to an echo over a socket pair
    with small kernel buffers (so that writes block and senders wait for room)."""
    a, b = trio.socket.socketpair()
    for sock in (a, b):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server = WebSocket(trio.SocketStream(a), is_server=True)
    client = WebSocket(trio.SocketStream(b), is_server=False)
    expected = sum(len(messages) for messages in plan)
    got: list[str] = []

    async def sender(k: int, messages: list[tuple[int, bool]]) -> None:
        for i, (size, pause) in enumerate(messages):
            await client.send_message(f"{k}:{i}:" + "x" * size)
            if pause:
                await trio.sleep(0)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_echo_until_closed, server)
            for k, messages in enumerate(plan):
                nursery.start_soon(sender, k, messages)
            while len(got) < expected:
                got.append(await client.get_message())
            await client.aclose()
    return got


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(
        st.lists(st.tuples(st.sampled_from([0, 1, 60, 1000, 16383, 16385, 70000]), st.booleans()), max_size=10),
        min_size=1,
        max_size=4,
    ),
    gap=st.sampled_from([0.0, 50e-6, 10.0]),  # never / sometimes / always queued after the first
    high_water=st.sampled_from([256, 16384, 65536]),
)
def test_any_mix_of_senders_sizes_and_pauses_arrives_whole_and_in_each_senders_order(plan, gap, high_water):
    saved = ws_writer.BURST_GAP, ws_writer.WRITE_HIGH_WATER
    ws_writer.BURST_GAP, ws_writer.WRITE_HIGH_WATER = gap, high_water
    try:
        got = trio.run(_mixed_senders, plan)
    finally:
        ws_writer.BURST_GAP, ws_writer.WRITE_HIGH_WATER = saved
    for k, messages in enumerate(plan):
        mine = [m for m in got if m.startswith(f"{k}:")]
        assert mine == [f"{k}:{i}:" + "x" * size for i, (size, _) in enumerate(messages)]
    assert len(got) == sum(len(m) for m in plan)
