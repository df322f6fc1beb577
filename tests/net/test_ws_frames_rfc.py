"""The frame layer after the upgrade (wsctl.net.ws_frames, wsctl.net.websocket)
against RFC 6455 sections 5 and 7, over real TLS connections: hand-written peers
(net_helpers) that send exactly the bytes a case needs and read exactly what
comes back, and python-websockets as a peer nobody here wrote.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import struct
import threading

import pytest
import trio
import trio.testing
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

from wsctl.core.errors import ConnectionClosed
from wsctl.net.api import open_device
from wsctl.net.ws_frames import CLOSE, TEXT, FrameReader

TEXT_OP, BIN, CONT, CLOSE_OP, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


async def _read_until(stream, data: bytes, done) -> bytes:
    """Read ``stream`` onto ``data`` until ``done(read_frames(data))`` (or EOF)."""
    while not done(read_frames(data)):
        try:
            chunk = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _has(opcode: int):
    return lambda frames: any(op == opcode for op, _ in frames)


async def _wait_for(records):
    with trio.fail_after(5):
        while not records:
            await trio.sleep(0.01)
    return records[0]


def _closes(frames) -> list[bytes]:
    return [payload for op, payload in frames if op == CLOSE_OP]


# ---- a hand-written client against wsctl's server ---------------------------------


async def test_text_fragments_splitting_multibyte_characters_are_one_message(start_server, pki):
    server = await start_server()
    text = "é€😀 ok"
    raw = text.encode()
    # cut inside "é" (2 bytes), inside "€" (3 bytes) and inside "😀" (4 bytes)
    cuts = [1, 3, 6, len(raw)]
    pieces = [raw[a:b] for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    wire = frame(TEXT_OP, pieces[0], fin=False)
    wire += b"".join(frame(CONT, p, fin=False) for p in pieces[1:-1])
    wire += frame(CONT, pieces[-1])
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(wire)
        data = await _read_until(tls, rest, _has(TEXT_OP))
    assert read_frames(data) == [(TEXT_OP, raw)]


async def test_invalid_utf8_in_a_first_fragment_fails_before_the_message_ends(start_server, pki):
    """Fail fast (RFC 6455 8.1): the continuation never comes, the close does."""
    records = []
    server = await start_server(access_log=records.append, idle_timeout=600)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(TEXT_OP, b"ok \xff", fin=False))
        data = await read_to_eof(tls, rest)
    closes = _closes(read_frames(data))
    assert len(closes) == 1 and closes[0][:2] == struct.pack("!H", 1007), read_frames(data)
    assert (await _wait_for(records)).close_code == 1007


@pytest.mark.parametrize(
    "wire",
    [
        frame(TEXT_OP, b"ok", fin=False) + frame(CONT, b"\xc3\x28"),  # bad continuation byte
        frame(TEXT_OP, b"ok", fin=False) + frame(CONT, b"\xed\xa0\x80"),  # a surrogate
        frame(TEXT_OP, b"a\xe2\x82", fin=False) + frame(CONT, b""),  # cut short at the end
        frame(TEXT_OP, b"a\xf0", fin=False) + frame(CONT, b"\x9f", fin=False) + frame(CONT, b"\x98"),
    ],
    ids=["bad-continuation-byte", "surrogate", "truncated-at-fin", "truncated-over-three"],
)
async def test_invalid_utf8_in_a_continuation_is_refused_1007(start_server, pki, wire):
    server = await start_server(idle_timeout=600)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(wire)
        data = await read_to_eof(tls, rest)
    frames = read_frames(data)
    assert [op for op, _ in frames] == [CLOSE_OP], frames
    assert frames[0][1][:2] == struct.pack("!H", 1007)


async def test_a_ping_between_fragments_is_answered_before_the_message_ends(start_server, pki):
    server = await start_server()
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(TEXT_OP, b"frag", fin=False) + frame(PING, b"mid-message"))
        data = await _read_until(tls, rest, _has(PONG))
        assert read_frames(data) == [(PONG, b"mid-message")]
        await tls.send_all(frame(CONT, b"ment", fin=False) + frame(PING, b"again") + frame(CONT, b"ed"))
        data = await _read_until(tls, data, lambda f: len(f) >= 3)
    assert read_frames(data) == [(PONG, b"mid-message"), (PONG, b"again"), (TEXT_OP, b"fragmented")]


async def test_a_125_byte_ping_gets_an_identical_pong_and_126_bytes_is_refused(start_server, pki):
    server = await start_server()
    payload = bytes(range(125))
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(PING, payload))
        data = await _read_until(tls, rest, _has(PONG))
        assert read_frames(data) == [(PONG, payload)]
        await tls.send_all(frame(PING, bytes(126)))
        data = await read_to_eof(tls, data)
    frames = read_frames(data)
    assert frames[1][0] == CLOSE_OP and frames[1][1][:2] == struct.pack("!H", 1002), frames


CLOSES = {
    "empty": b"",
    "code-only": close_payload(1001),
    "code-and-reason": close_payload(4001, "fin é".encode()),
    "1014-bad-gateway": close_payload(1014, b"upstream"),
    "123-byte-reason": close_payload(3000, b"r" * 123),
}


@pytest.mark.parametrize("case", list(CLOSES))
async def test_the_server_echoes_a_client_close_and_closes_tcp_first(case, start_server, pki):
    records = []
    server = await start_server(access_log=records.append, close_timeout=30)
    payload = CLOSES[case]
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(CLOSE_OP, payload))
        data = await read_to_eof(tls, rest)  # ends only when the server closes: we never do
    assert read_frames(data) == [(CLOSE_OP, payload)]
    rec = await _wait_for(records)
    assert rec.closed_by == "client"
    assert rec.close_code == (struct.unpack("!H", payload[:2])[0] if payload else 1005), rec


async def test_frames_behind_a_client_close_are_ignored(start_server, pki):
    seen, done = [], trio.Event()

    async def handler(conn):
        try:
            async for message in conn:
                seen.append(message)
        finally:
            done.set()

    server = await start_server(handler)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        wire = frame(TEXT_OP, b"before") + frame(CLOSE_OP, close_payload(1000))
        wire += frame(TEXT_OP, b"after") + frame(PING, b"after") + frame(0x3)  # even a bad one
        await tls.send_all(wire)
        data = await read_to_eof(tls, rest)
        await done.wait()
    assert read_frames(data) == [(CLOSE_OP, close_payload(1000))]
    assert seen == ["before"]


async def test_after_its_own_close_the_server_sends_nothing_and_closes_tcp_first(start_server, pki):
    """The client goes on sending (a text, a ping) before it answers the close:
    the text is dropped, the ping not answered, and once the reply came the
    server closes the connection without waiting for the client to."""
    records = []

    async def closes(conn):
        await conn.close(4002, "server bye")

    server = await start_server(closes, access_log=records.append, close_timeout=30)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        data = await _read_until(tls, rest, _has(CLOSE_OP))
        assert read_frames(data) == [(CLOSE_OP, close_payload(4002, b"server bye"))]
        await tls.send_all(frame(TEXT_OP, b"late") + frame(PING, b"late"))
        await tls.send_all(frame(CLOSE_OP, close_payload(4002, b"server bye")))
        data = await read_to_eof(tls, data)
    assert read_frames(data) == [(CLOSE_OP, close_payload(4002, b"server bye"))]
    rec = await _wait_for(records)
    assert (rec.close_code, rec.closed_by) == (4002, "server"), rec


async def test_no_data_frame_follows_the_servers_close(start_server, pki):
    """A handler task sends as fast as it can while another closes."""
    stopped = []

    async def handler(conn):
        async def flood():
            try:
                while True:
                    await conn.send("x" * 1000)
            except ConnectionClosed as exc:
                stopped.append(exc.code)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await conn.receive()  # "go"
            await conn.close(4003, "enough")

    server = await start_server(handler, close_timeout=30)
    with trio.fail_after(10):
        tls, rest = await raw_client(server.port, pki)
        data = await _read_until(tls, rest, lambda f: len(f) >= 3)
        await tls.send_all(frame(TEXT_OP, b"go"))
        data = await _read_until(tls, data, _has(CLOSE_OP))
        await tls.send_all(frame(CLOSE_OP, close_payload(4003)))
        data = await read_to_eof(tls, data)
    ops = [op for op, _ in read_frames(data)]
    assert ops[-1] == CLOSE_OP and ops.count(CLOSE_OP) == 1 and set(ops[:-1]) == {TEXT_OP}, ops[-5:]
    assert stopped == [4003]
    assert _unmasked(data)


async def test_the_close_reply_is_sent_whole_before_the_server_closes_tcp(start_server, pki):
    """Handler tasks keep sending big messages to a client that does not read
    yet; the client closes, then reads: the server's close reply must be on the
    wire, whole, before its EOF (RFC 6455 7.1.1/7.1.2)."""
    big = "b" * 2**19

    async def floods(conn):
        async def flood():
            try:
                while True:
                    await conn.send(big)
            except ConnectionClosed:
                pass

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(flood)

    server = await start_server(floods, close_timeout=30)
    with trio.fail_after(20):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(CLOSE_OP, close_payload(4007, b"stop")))
        data = await read_to_eof(tls, rest)
    frames = read_frames(data)
    size = sum(2 + (8 if len(p) > 0xFFFF else 2 if len(p) > 125 else 0) + len(p) for _, p in frames)
    assert size == len(data), f"{len(data) - size} bytes of a cut frame after {len(frames)} frames"
    assert frames and frames[-1] == (CLOSE_OP, close_payload(4007, b"stop")), [op for op, _ in frames[-3:]]


async def test_a_handler_that_never_reads_still_answers_a_close_and_closes_tcp(start_server, pki):
    release = trio.Event()

    async def never_reads(conn):
        await release.wait()

    server = await start_server(never_reads, close_timeout=30)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(PING, b"p") + frame(CLOSE_OP, close_payload(1001, b"away")))
        data = await read_to_eof(tls, rest)  # the server's sweep reads, answers and closes
        release.set()
    assert read_frames(data) == [(PONG, b"p"), (CLOSE_OP, close_payload(1001, b"away"))]


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragmented"])
async def test_a_message_at_the_limit_passes_and_one_byte_more_is_refused_1009(start_server, pki, fragmented):
    records = []
    server = await start_server(access_log=records.append, max_message_size=1000, idle_timeout=600)

    def message(size: int) -> bytes:
        if not fragmented:
            return frame(BIN, b"m" * size)
        return frame(BIN, b"m" * 400, fin=False) + frame(CONT, b"m" * 400, fin=False) + frame(CONT, b"m" * (size - 800))

    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(message(1000))
        data = await _read_until(tls, rest, _has(BIN))
        assert read_frames(data) == [(BIN, b"m" * 1000)]
        await tls.send_all(message(1001))
        data = await read_to_eof(tls, data)
    frames = read_frames(data)
    assert [op for op, _ in frames] == [BIN, CLOSE_OP] and frames[1][1][:2] == struct.pack("!H", 1009), frames
    assert (await _wait_for(records)).close_code == 1009


async def test_a_1_mib_message_read_one_byte_at_a_time(start_server, pki):
    """The server reads its TLS stream one byte per receive (receive_buffer_size=1)
    while the client writes the frame in small pieces: the message is whole."""
    size = 2**20
    server = await start_server(receive_buffer_size=1)
    payload = bytes(i % 251 for i in range(size))
    wire = frame(BIN, payload)
    with trio.fail_after(120):
        tls, rest = await raw_client(server.port, pki)
        # the header byte by byte, then the payload in pieces of 4 KiB
        for i in range(14):
            await tls.send_all(wire[i : i + 1])
        for i in range(14, len(wire), 4096):
            await tls.send_all(wire[i : i + 4096])
        data = rest
        while len(data) < size + 10:
            data += await tls.receive_some(65536)
    assert read_frames(data) == [(BIN, payload)]


def test_a_1_mib_frame_fed_one_byte_at_a_time_comes_out_whole() -> None:
    """FrameReader given 1-byte chunks of a masked 1 MiB text frame: one event, at the last byte."""
    payload = ("€" * (2**20 // 3)).encode()
    wire = frame(TEXT_OP, payload)
    reader = FrameReader(server=True, max_message_size=2**20)
    got = []
    for i in range(len(wire)):
        events, failure = reader.read(wire[i : i + 1])
        assert failure is None
        if events:
            assert i == len(wire) - 1
            got.extend(events)
    assert got == [(TEXT, payload.decode(), True)]


@pytest.mark.parametrize("prefix", [b"\xc0", b"\xf5", b"\xe0\x80", b"\xf4\x90", b"\xf0\x80", b"\xff"])
def test_a_first_fragment_ending_in_an_impossible_utf8_prefix_fails_at_once(prefix: bytes) -> None:
    """No continuation could make these valid: refused with the first fragment (RFC 6455 8.1)."""
    reader = FrameReader(server=True, max_message_size=100)
    events, failure = reader.read(frame(TEXT_OP, b"ok" + prefix, fin=False))
    assert events == [] and failure is not None and failure.code == 1007


def _unmasked(data: bytes) -> bool:
    """Every frame in ``data`` (from a server) has the mask bit clear (RFC 6455 5.1)."""
    pos = 0
    while pos + 2 <= len(data):
        if data[pos + 1] & 0x80:
            return False
        n, head = data[pos + 1] & 0x7F, pos + 2
        if n == 126:
            n, head = struct.unpack("!H", data[head : head + 2])[0], head + 2
        elif n == 127:
            n, head = struct.unpack("!Q", data[head : head + 8])[0], head + 8
        pos = head + n
    return True


def test_a_close_frame_ends_parsing_even_of_garbage_behind_it() -> None:
    reader = FrameReader(server=False, max_message_size=100)
    wire = frame(CLOSE_OP, close_payload(1000), mask=False) + b"\xff\xff garbage"
    assert reader.read(wire) == ([(CLOSE, (1000, ""), True)], None)
    assert reader.read(frame(TEXT_OP, b"x", mask=False)) == ([], None)


@pytest.mark.parametrize("split", [None, 3], ids=["whole-frames", "frame-cut-in-two"])
async def test_frames_in_the_same_write_as_the_upgrade_request_are_not_lost(start_server, pki, split):
    server = await start_server()
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    wire = frame(TEXT_OP, b"first") + frame(PING, b"p") + frame(BIN, b"second")
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
        if split is None:
            await tls.send_all(UPGRADE + wire)
        else:
            await tls.send_all(UPGRADE + wire[:split])
            await tls.send_all(wire[split:])
        data = b""
        while len(read_frames(data.partition(b"\r\n\r\n")[2])) < 3:
            data += await tls.receive_some(65536)
        await tls.send_all(frame(CLOSE_OP, close_payload(1000)))
        data = await read_to_eof(tls, data)
    frames = read_frames(data.partition(b"\r\n\r\n")[2])
    # the pong is the reader's, the echoes the handler's: no order between them
    assert [f for f in frames if f[0] != PONG] == [
        (TEXT_OP, b"first"),
        (BIN, b"second"),
        (CLOSE_OP, close_payload(1000)),
    ]
    assert [f for f in frames if f[0] == PONG] == [(PONG, b"p")]


async def test_a_close_in_the_same_write_as_the_upgrade_request_is_answered(start_server, pki):
    server = await start_server()
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
        await tls.send_all(UPGRADE + frame(CLOSE_OP, close_payload(4004, b"never mind")))
        data = await read_to_eof(tls)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert read_frames(body) == [(CLOSE_OP, close_payload(4004, b"never mind"))]


class _CountingReceive:
    """The stream beneath, setting ``arrived`` once ``target`` bytes were received."""

    def __init__(self, inner, target: int, arrived: trio.Event) -> None:
        self._inner, self._target, self._arrived, self._total = inner, target, arrived, 0

    async def receive_some(self, max_bytes=None):
        data = await self._inner.receive_some(max_bytes)
        self._total += len(data)
        if self._total >= self._target:
            self._arrived.set()
        return data

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_a_frame_still_arriving_counts_against_max_buffered_bytes(start_server, pki):
    """Unread messages plus the message being assembled are bounded (module doc
    of wsctl.net.websocket): 900 bytes queued and 500 of a 1000-byte frame in are
    over max_buffered_bytes=1000, whether or not the frame's last byte came."""
    queued = frame(BIN, b"q" * 900)
    partial = frame(BIN, b"r" * 1000)[: 8 + 500]  # masked header (8 bytes) and half the payload
    arrived, release, seen = trio.Event(), trio.Event(), []

    async def never_reads(conn):
        ws = conn._ws
        ws._stream = _CountingReceive(ws.stream, len(queued) + len(partial), arrived)
        await arrived.wait()  # the server's sweep read all of it for this handler
        await trio.testing.wait_all_tasks_blocked()  # ... and handled it
        seen.append((ws.failure.code if ws.failure else None, ws.buffered))
        await release.wait()

    server = await start_server(never_reads, max_message_size=1000, max_buffered_bytes=1000, idle_timeout=600)
    with trio.fail_after(10):
        tls, _rest = await raw_client(server.port, pki)
        await tls.send_all(queued + partial)
        while not seen:
            await trio.sleep(0.01)
        release.set()
    assert seen[0][0] == 1008, f"no 1008 with {seen[0][1]} bytes counted as buffered"


class Label(enum.StrEnum):
    """A str subclass, as applications pass: a StrEnum member."""

    HELLO = "hello"


async def test_a_str_subclass_is_sent_as_text(start_server, alice_kw):
    server = await start_server()
    with trio.fail_after(5):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.send(Label.HELLO)
            assert await dev.receive(timeout=3) == "hello"


# ---- wsctl's client against a hand-written device ----------------------------------


def _answer(request: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n\r\n"
    )


async def test_frames_in_the_same_write_as_the_101_are_not_lost(nursery, pki):
    from_client = []

    async def device(stream, request):
        early = frame(TEXT_OP, b"early", mask=False) + frame(PING, b"are you there", mask=False)
        await stream.send_all(_answer(request) + early + frame(BIN, b"cut", mask=False)[:2])
        await stream.send_all(frame(BIN, b"cut", mask=False)[2:])
        from_client.append(await _read_until(stream, b"", _has(CLOSE_OP)))
        await stream.aclose()

    url = await device_listener(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            assert await dev.receive(timeout=3) == "early"
            assert await dev.receive(timeout=3) == b"cut"
        while not from_client:
            await trio.sleep(0.01)
    frames = read_frames(from_client[0])
    assert frames == [(PONG, b"are you there"), (CLOSE_OP, close_payload(1000))], frames


@pytest.mark.parametrize("opcode", [TEXT_OP, PING, CLOSE_OP], ids=["text", "ping", "close"])
async def test_a_masked_frame_from_the_server_is_refused_1002(nursery, pki, opcode):
    from_client = []

    async def device(stream):
        payload = close_payload(1000) if opcode == CLOSE_OP else b"masked"
        await stream.send_all(frame(opcode, payload, mask=True))
        from_client.append(await read_to_eof(stream))

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
        while not from_client:
            await trio.sleep(0.01)
    assert info.value.code == 1002 and "masked" in str(info.value)
    frames = read_frames(from_client[0])
    assert [op for op, _ in frames] == [CLOSE_OP] and frames[0][1][:2] == struct.pack("!H", 1002), frames


async def test_a_close_against_a_device_that_never_answers_is_bounded_by_close_timeout(nursery, pki):
    from_client = []

    async def device(stream):
        data = await _read_until(stream, b"", _has(CLOSE_OP))
        # no answer: read on until the client gives up and drops the connection
        from_client.append(await read_to_eof(stream, data))

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(10):
        async with open_device(url, ca=pki.root, close_timeout=0.5) as dev:
            await dev.close(4005, "leaving")
        while not from_client:
            await trio.sleep(0.01)
    assert read_frames(from_client[0]) == [(CLOSE_OP, close_payload(4005, b"leaving"))]


@pytest.mark.parametrize("case", list(CLOSES))
async def test_the_client_echoes_a_device_close(case, nursery, pki):
    payload = CLOSES[case]
    from_client = []

    async def device(stream):
        await stream.send_all(frame(CLOSE_OP, payload, mask=False))
        from_client.append(await _read_until(stream, b"", _has(CLOSE_OP)))
        await stream.aclose()  # the server closes the TCP connection first

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
        while not from_client:
            await trio.sleep(0.01)
    assert read_frames(from_client[0]) == [(CLOSE_OP, payload)]
    assert info.value.code == (struct.unpack("!H", payload[:2])[0] if payload else 1005)


async def test_a_device_leaving_without_a_close_frame_is_1006_after_its_messages(nursery, pki):
    async def device(stream):
        await stream.send_all(frame(TEXT_OP, b"last words", mask=False))
        await stream.aclose()

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            assert await dev.receive(timeout=3) == "last words"
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
    assert info.value.code == 1006


async def test_close_1005_with_a_reason_still_sends_a_close_frame_and_never_raises(nursery, pki):
    from_client = []

    async def device(stream):
        from_client.append(await read_to_eof(stream))

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=0.5) as dev:
            await dev.close(1005, "bye")  # "idempotent, never raises"
        while not from_client:
            await trio.sleep(0.01)
    assert [op for op, _ in read_frames(from_client[0])] == [CLOSE_OP]


async def test_frames_behind_a_device_close_are_ignored_by_the_client(nursery, pki):
    from_client = []

    async def device(stream):
        wire = frame(TEXT_OP, b"before", mask=False) + frame(CLOSE_OP, close_payload(1001), mask=False)
        wire += frame(TEXT_OP, b"after", mask=False) + frame(PING, b"after", mask=False) + b"\xff\xff"
        await stream.send_all(wire)
        from_client.append(await read_to_eof(stream))

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            assert await dev.receive(timeout=3) == "before"
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
        while not from_client:
            await trio.sleep(0.01)
    assert info.value.code == 1001
    assert read_frames(from_client[0]) == [(CLOSE_OP, close_payload(1001))]


async def test_no_data_frame_follows_the_clients_close_and_each_frame_has_its_own_key(nursery, pki):
    from_client = []
    started = trio.Event()

    async def device(stream):
        data = await _read_until(stream, b"", lambda f: len(f) >= 3)
        started.set()
        data = await _read_until(stream, data, _has(CLOSE_OP))
        from_client.append(data)
        await stream.send_all(frame(CLOSE_OP, close_payload(4006), mask=False))
        await stream.aclose()

    url = await raw_device(nursery, pki, device)
    stopped = []
    with trio.fail_after(10):
        async with open_device(url, ca=pki.root, close_timeout=5) as dev:

            async def flood():
                try:
                    while True:
                        await dev.send(b"y" * 500)
                except ConnectionClosed as exc:
                    stopped.append(exc.code)

            async with trio.open_nursery() as inner:
                inner.start_soon(flood)
                await started.wait()
                await dev.close(4006)
        while not from_client:
            await trio.sleep(0.01)
    data = from_client[0]
    ops = [op for op, _ in read_frames(data)]
    assert ops[-1] == CLOSE_OP and ops.count(CLOSE_OP) == 1 and set(ops[:-1]) == {BIN}, ops[-5:]
    assert stopped == [4006]
    keys, pos = set(), 0
    while pos < len(data):  # every client frame is masked, with a key of its own (RFC 6455 5.3)
        assert data[pos + 1] & 0x80
        n, head = data[pos + 1] & 0x7F, pos + 2
        if n == 126:
            n, head = struct.unpack("!H", data[head : head + 2])[0], head + 2
        keys.add(data[head : head + 4])
        pos = head + 4 + n
    assert len(keys) == len(ops)


# ---- python-websockets as the peer -------------------------------------------------


async def test_websockets_client_limits_fragments_pings_and_1014(start_server, pki):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    records = []
    server = await start_server(access_log=records.append)
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.bob.chain, pki.bob.key)

    async def client():
        out = {}
        async with connect(server.url, ssl=ctx, open_timeout=5, max_size=2**21) as ws:
            await ws.send(b"\xab" * 2**20)  # exactly the server's limit
            out["limit"] = await ws.recv() == b"\xab" * 2**20
            await ws.send([b"\x00" * 70_000, b"\x01" * 70_000, b""])
            out["fragments"] = await ws.recv() == b"\x00" * 70_000 + b"\x01" * 70_000
            await asyncio.wait_for(await ws.ping(b"p" * 125), 5)
            await ws.close(1014, "bad gateway")
            out["reply"] = (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason)
        async with connect(server.url, ssl=ctx, open_timeout=5, max_size=2**21) as ws:
            await ws.send(b"\xab" * (2**20 + 1))  # one byte over
            try:
                await ws.recv()
            except ConnectionClosedError as exc:
                out["over"] = exc.rcvd.code
        return out

    with trio.fail_after(20):
        out = await trio.to_thread.run_sync(asyncio.run, client())
        while len(records) < 2:
            await trio.sleep(0.01)
    assert out == {"limit": True, "fragments": True, "reply": (1014, "bad gateway"), "over": 1009}
    codes = sorted((r.close_code, r.closed_by) for r in records)
    assert codes == [(1009, "server"), (1014, "client")], codes


class _WebsocketsDevice:
    """A python-websockets mTLS server running ``handler(ws)`` in its own thread."""

    def __init__(self, pki, handler):
        self.pki, self.handler = pki, handler
        self.port = None
        self._ready = threading.Event()
        self._loop = self._stop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        from websockets.asyncio.server import serve

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.device.chain, self.pki.device.key)
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self.handler, "127.0.0.1", 0, ssl=ctx, max_size=2**21) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    async def __aenter__(self):
        self._thread.start()
        assert await trio.to_thread.run_sync(self._ready.wait, 5)
        return self

    async def __aexit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        await trio.to_thread.run_sync(self._thread.join, 5)


async def test_wsctl_client_against_websockets_server_fragments_pings_and_1014(pki):
    seen = {}

    async def handler(ws):
        await ws.send(["frag", "mént", "é€"])  # one text message in three frames
        await ws.send(b"\x5a" * 2**20)  # exactly the client's limit
        seen["ping"] = await asyncio.wait_for(await ws.ping(b"q" * 125), 5) >= 0
        seen["echo"] = await ws.recv()
        await ws.close(1014, "bad gateway")
        seen["reply"] = (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason)

    async with _WebsocketsDevice(pki, handler) as server:
        with trio.fail_after(15):
            async with open_device(f"wss://127.0.0.1:{server.port}/", ca=pki.root, close_timeout=3) as dev:
                assert await dev.receive(timeout=5) == "fragménté€"
                assert await dev.receive(timeout=5) == b"\x5a" * 2**20
                assert await dev.ping(timeout=5) >= 0
                await dev.send("echo me")
                with pytest.raises(ConnectionClosed) as info:
                    await dev.receive(timeout=5)
            while "reply" not in seen:
                await trio.sleep(0.01)
    assert info.value.code == 1014 and "bad gateway" in str(info.value)
    assert seen == {"ping": True, "echo": "echo me", "reply": (1014, "bad gateway")}


async def test_wsctl_client_refuses_a_websockets_message_one_byte_over_its_limit(pki):
    seen = {}

    async def handler(ws):
        await ws.send(b"z" * 1001)
        try:
            await ws.recv()
        except Exception as exc:  # noqa: BLE001
            seen["rcvd"] = exc.rcvd.code if getattr(exc, "rcvd", None) else repr(exc)

    async with _WebsocketsDevice(pki, handler) as server:
        with trio.fail_after(15):
            url = f"wss://127.0.0.1:{server.port}/"
            async with open_device(url, ca=pki.root, close_timeout=3, max_message_size=1000) as dev:
                with pytest.raises(ConnectionClosed) as info:
                    await dev.receive(timeout=5)
            while "rcvd" not in seen:
                await trio.sleep(0.01)
    assert info.value.code == 1009 and seen == {"rcvd": 1009}
