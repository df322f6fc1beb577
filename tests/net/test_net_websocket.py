"""The wsproto-driven connection (`wsctl.net.websocket`): what is new about it.

No task of its own per server connection, writes coalesced, no cyclic garbage
on either side, and its frame path under a bounded fuzz against a real socket
pair (frames written by hand, split at random points).
"""

from __future__ import annotations

import gc
import os
import ssl

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_helpers import frame, raw_client, read_frames, read_to_eof
from wsproto.connection import Connection

from wsctl.core.errors import ConnectionClosed
from wsctl.net import websocket
from wsctl.net.api import open_device
from wsctl.net.websocket import WebSocket


def _all_tasks() -> int:
    count, todo = 0, [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


async def test_an_open_server_connection_has_no_task_but_its_handler(start_server, pki):
    """trio-websocket ran a reader task per connection next to the handler's;
    here data is read by the handler's own receive."""
    server = await start_server()
    with trio.fail_after(10):
        first, rest = await raw_client(server.port, pki)  # the server's own tasks settle
        await first.send_all(frame(0x1, b"hi"))
        assert read_frames(rest + await first.receive_some(65536)) == [(0x1, b"hi")]
        before = _all_tasks()
        clients = [await raw_client(server.port, pki) for _ in range(5)]
        for tls, rest in clients:
            await tls.send_all(frame(0x1, b"x"))
            assert read_frames(rest + await tls.receive_some(65536)) == [(0x1, b"x")]
        assert _all_tasks() - before == 5  # one per connection: the one running its handler


async def test_a_handler_that_never_reads_still_answers_pings(start_server, pki):
    """A handler that only sends is read for (the server's unattended sweep)."""
    done = trio.Event()

    async def only_sends(conn):
        await conn.send("hello")
        await done.wait()

    server = await start_server(only_sends)
    with trio.fail_after(10):
        tls, data = await raw_client(server.port, pki)
        await tls.send_all(frame(0x9, b"are you there"))
        while (0xA, b"are you there") not in read_frames(data):
            data += await tls.receive_some(65536)
        assert read_frames(data)[0] == (0x1, b"hello")
        done.set()


class _CountedWrites:
    """The stream beneath, counting ``send_all`` calls."""

    def __init__(self, inner, writes):
        self._inner, self._writes = inner, writes

    async def send_all(self, data):
        self._writes.append(len(data))
        await self._inner.send_all(data)

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_concurrent_sends_are_coalesced_into_few_writes(start_server, alice_kw):
    writes = []

    async def fan_out(conn):
        conn._ws._writer._stream = _CountedWrites(conn._ws.stream, writes)
        await conn.receive()
        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(conn.send, f"m{i:02}")
        await conn.receive()

    server = await start_server(fan_out)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.send("go")
            got = sorted([await dev.receive(timeout=5) for _ in range(50)])
            await dev.send("bye")
    assert got == [f"m{i:02}" for i in range(50)]
    assert 1 <= len(writes) <= 5, writes  # one send_all took what the others queued meanwhile


async def _exchange(url: str, alice_kw: dict) -> None:
    async with open_device(url, **alice_kw) as dev:
        await dev.send("hello")
        assert await dev.receive(timeout=5) == "hello"
        await dev.ping(timeout=5)


def _ours(obj: object) -> bool:
    return isinstance(obj, (WebSocket, Connection, trio.SSLStream, ssl.SSLObject))


async def test_neither_side_leaves_cyclic_garbage(start_server, alice_kw):
    """Client and server parts alike go when their last reference does (the
    server side alone is tests/net/test_net_garbage.py)."""
    server = await start_server()
    with trio.fail_after(20):
        await _exchange(server.url, alice_kw)
        gc.collect()
        gc.garbage.clear()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                await _exchange(server.url, alice_kw)
            while server.connections:
                await trio.sleep(0.01)
            gc.collect()
            found = sorted({type(o).__name__ for o in gc.garbage if _ours(o)})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert found == []


# ---- the frame path, fuzzed against a real socket pair ---------------------------------------

_messages = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(max_size=300), st.integers(1, 4)),
        st.tuples(st.just("binary"), st.binary(max_size=3000), st.integers(1, 4)),
        st.tuples(st.just("ping"), st.binary(max_size=125), st.just(1)),
    ),
    max_size=12,
)


def _frames_of(kind: str, payload: str | bytes, pieces: int) -> bytes:
    """A message as ``pieces`` frames (a continuation for each piece after the first)."""
    if kind == "ping":
        return frame(0x9, payload)
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if kind == "text" else 0x2
    cuts = sorted({len(data) * i // pieces for i in range(1, pieces)}) if data else []
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)] or [b""]
    out = b""
    for i, part in enumerate(parts):
        out += frame(opcode if i == 0 else 0x0, part, fin=i == len(parts) - 1)
    return out


async def _server_side_echo(stream: trio.SocketStream) -> None:
    ws = WebSocket(stream, is_server=True, max_message_size=2**16)
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except websocket.ConnectionClosed:
        pass


async def _drive(script: bytes, cuts: list[int], expect_frames: int) -> list[tuple[int, bytes]]:
    a, b = trio.socket.socketpair()
    peer, ours = trio.SocketStream(a), trio.SocketStream(b)
    got = b""
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_server_side_echo, ours)
            for start, end in zip([0, *cuts], [*cuts, len(script)], strict=True):
                await peer.send_all(script[start:end])
                await trio.sleep(0)
            while len(read_frames(got)) < expect_frames:
                got += await peer.receive_some(65536)
            await peer.send_all(frame(0x8, b"\x03\xe8"))
            got = await read_to_eof(peer, got)
    await peer.aclose()
    return read_frames(got)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages, cut_fractions=st.lists(st.floats(0, 1), max_size=6))
def test_any_sequence_of_frames_comes_back_whole_and_in_order(messages, cut_fractions):
    script = b"".join(_frames_of(kind, payload, pieces) for kind, payload, pieces in messages)
    cuts = sorted({int(f * len(script)) for f in cut_fractions} - {0, len(script)})
    expected = [
        (
            0xA if kind == "ping" else 0x1 if kind == "text" else 0x2,
            payload.encode() if isinstance(payload, str) else payload,
        )
        for kind, payload, _ in messages
    ]
    frames = trio.run(_drive, script, cuts, len(expected))
    # pongs go out as their chunk is read, echoes when the handler gets to them:
    # each kind in order, the close last
    assert [f for f in frames if f[0] == 0xA] == [f for f in expected if f[0] == 0xA]
    assert [f for f in frames if f[0] in (0x1, 0x2)] == [f for f in expected if f[0] != 0xA]
    assert frames[len(expected) :] == [(0x8, b"\x03\xe8")]  # our close, echoed


async def _garbage_outcome(data: bytes) -> bytes:
    a, b = trio.socket.socketpair()
    peer, ours = trio.SocketStream(a), trio.SocketStream(b)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_server_side_echo, ours)
            try:
                await peer.send_all(data)
                await peer.send_eof()
            except trio.BrokenResourceError:
                pass
            got = await read_to_eof(peer)
    await peer.aclose()
    return got


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=400))
def test_arbitrary_bytes_end_in_a_close_frame_or_eof_never_a_hang(data):
    """Whatever a peer sends, the connection ends within the bound: echoes, and
    a close frame with a protocol code when the bytes were not valid frames."""
    got = trio.run(_garbage_outcome, data)
    closing = [payload for opcode, payload in read_frames(got) if opcode == 0x8]
    if closing and len(closing[0]) >= 2:
        assert 1000 <= int.from_bytes(closing[0][:2], "big") <= 4999


# ---- peers nobody here wrote ----------------------------------------------------------------


async def test_websockets_client_fragments_pipelines_pings_and_closes_with_its_code(start_server, pki):
    import asyncio

    from websockets.asyncio.client import connect

    records = []
    server = await start_server(access_log=records.append)
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.bob.chain, pki.bob.key)

    async def client():
        async with connect(server.url, ssl=ctx, open_timeout=5, max_size=2**20) as ws:
            await ws.send(["frag", "ment", "ed"])  # one text message in three frames
            for i in range(200):
                await ws.send(f"p{i}")
            got = [await ws.recv() for _ in range(201)]
            latency = await asyncio.wait_for(await ws.ping(b"websockets"), 5)
            await ws.close(4000, "done here")
            return got, latency >= 0

    with trio.fail_after(15):
        got, ponged = await trio.to_thread.run_sync(asyncio.run, client())
        while not records:
            await trio.sleep(0.01)
    assert got == ["fragmented", *(f"p{i}" for i in range(200))] and ponged
    assert (records[0].close_code, records[0].close_reason, records[0].closed_by) == (4000, "done here", "client")


async def test_openssl_s_client_with_hand_written_frames(start_server, pki):
    """openssl s_client as the peer: an upgrade, a masked text frame and a close
    frame written by hand; the echo (unmasked) and the close reply come back."""
    import subprocess

    server = await start_server()
    request = (
        b"GET /by-hand HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + __import__("base64").b64encode(os.urandom(16)) + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    args = ["openssl", "s_client", "-quiet", "-ign_eof", "-connect", f"127.0.0.1:{server.port}"]
    args += ["-CAfile", str(pki.root), "-cert", str(pki.alice.chain), "-key", str(pki.alice.key)]
    args += ["-cert_chain", str(pki.alice.chain)]  # the issuing CA too: the server trusts the root only

    def run() -> bytes:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdin is not None and proc.stdout is not None

        def send(data: bytes) -> None:
            proc.stdin.write(data)
            proc.stdin.flush()

        def read_until(done) -> bytes:
            data = b""
            while not done(data) and (chunk := proc.stdout.read1(4096)):
                data += chunk
            return data

        send(request)
        head = read_until(lambda d: b"\r\n\r\n" in d)
        send(frame(0x1, b"from openssl"))
        head += read_until(lambda d: read_frames((head + d).partition(b"\r\n\r\n")[2]))
        try:
            rest, _ = proc.communicate(frame(0x8, b"\x03\xe8bye"), timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return head + rest

    with trio.fail_after(20):
        out = await trio.to_thread.run_sync(run)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert read_frames(body) == [(0x1, b"from openssl"), (0x8, b"\x03\xe8bye")]


@pytest.mark.parametrize("first", ["ping", "text"])
async def test_frames_sent_with_the_upgrade_request_are_not_lost(start_server, pki, first):
    """A client may send frames right behind its request, in the same write."""
    from net_helpers import UPGRADE

    server = await start_server()
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
        early = frame(0x9, b"early") if first == "ping" else frame(0x1, b"early")
        await tls.send_all(UPGRADE + early)
        data = b""
        while len(read_frames(data.partition(b"\r\n\r\n")[2])) < 1:
            data += await tls.receive_some(65536)
        await tls.aclose()
    assert read_frames(data.partition(b"\r\n\r\n")[2])[0] == (0xA if first == "ping" else 0x1, b"early")


async def test_a_client_not_reading_after_the_server_closed_stays_responsive(start_server, alice_kw):
    """The client's own watch reads the server's close and its TCP close, then
    stops: it once went on "reading" a finished connection without yielding,
    which froze the whole trio run (this test hung instead of failing)."""

    async def closes_at_once(conn):
        await conn.close(4000, "go away")

    server = await start_server(closes_at_once)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            while dev.closed is None:
                await trio.sleep(0.05)
            await trio.sleep(0.5)  # several of the watch's rounds, nobody reading
            assert not dev._ws.needs_reader(trio.current_time(), 0.0)
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=1)
    assert info.value.code == 4000
