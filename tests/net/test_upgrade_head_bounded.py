"""An upgrade request head larger than 16 KiB is answered 431 and logged as
what it is, whether it arrives in pieces (h11's own bound) or whole in one
read (which passed that bound: 3,000 headers were kept for the connection's
life) — and only the head counts.  A real server, a raw client."""

from __future__ import annotations

import functools
import ssl

import trio
from net_helpers import UPGRADE, frame, read_frames

from wsctl.net.api import echo_handler, serve
from wsctl.net.ws_handshake import MAX_REQUEST_HEAD


async def _send_head(server, pki, head: bytes) -> bytes:
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
    await tls.send_all(head)
    answer = b""
    with trio.move_on_after(5):
        while b"\r\n\r\n" not in answer:
            data = await tls.receive_some(65536)
            if not data:
                break
            answer += data
    await tls.aclose()
    return answer


async def test_a_head_over_the_bound_in_one_read_is_431(start_server, pki):
    records: list = []
    server = await start_server(access_log=records.append)
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"x" * 20) for n in range(MAX_REQUEST_HEAD // 30 + 50))
    head = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + headers + b"\r\n"
    )
    assert MAX_REQUEST_HEAD < len(head) < 60 * 1024  # one TLS read holds it all
    answer = await _send_head(server, pki, head)
    assert answer.startswith(b"HTTP/1.1 431")
    with trio.fail_after(5):
        while not records:
            await trio.sleep(0.01)
    assert "larger than 16 KiB" in records[0].error


async def test_a_head_that_is_not_an_upgrade_says_why_in_the_access_record(start_server, pki):
    records: list = []
    server = await start_server(access_log=records.append)
    answer = await _send_head(server, pki, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 4")
    with trio.fail_after(5):
        while not records:
            await trio.sleep(0.01)
    assert records[0].error.startswith("not a WebSocket upgrade request: ")


async def test_frames_in_the_same_read_as_the_head_do_not_count_toward_it(nursery):
    """Plain ws://: a small request and a 20 KB frame in one write (one read) is
    an upgrade, and the frame is the connection's first message (it was 431).
    TLS hands the server at most one 16 KiB record per read, so this is plaintext only."""
    server = await nursery.start(functools.partial(serve, echo_handler, allow_plaintext=True))
    message = b"m" * 20000
    assert len(UPGRADE) + len(message) > MAX_REQUEST_HEAD
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(UPGRADE + frame(0x2, message))
    answer = b""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in answer or not read_frames(answer.split(b"\r\n\r\n", 1)[1]):
            data = await stream.receive_some(65536)
            assert data, answer
            answer += data
    await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 101")
    assert read_frames(answer.split(b"\r\n\r\n", 1)[1])[0] == (0x2, message)
