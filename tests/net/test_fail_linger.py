"""After failing a connection (RFC 6455 7.1.7) the server reads what the peer
still sends, so that closing does not reset the connection under its close
frame; a client that answers the close and waits for the server to close TCP
(7.1.1) is let go at its close frame, not after the whole linger."""

from __future__ import annotations

import trio
from net_helpers import close_payload, frame, raw_client, read_frames, read_to_eof

from wsctl.net import websocket

TEXT_OP, CLOSE_OP = 0x1, 0x8


async def _fail_with_invalid_utf8(server_port: int, pki, *, answer: bytes | None) -> list[tuple[int, bytes]]:
    tls, rest = await raw_client(server_port, pki)
    await tls.send_all(frame(TEXT_OP, b"\xff\xfe not utf-8"))
    got = rest
    while not any(op == CLOSE_OP for op, _ in read_frames(got)):
        got += await tls.receive_some(65536)
    if answer is not None:
        await tls.send_all(answer)
    return read_frames(await read_to_eof(tls, got))


async def test_a_client_that_answers_the_close_is_let_go_at_once(start_server, pki, monkeypatch):
    monkeypatch.setattr(websocket, "FAIL_LINGER", 60.0)  # so that waiting it out would show
    server = await start_server()
    with trio.fail_after(20):
        frames = await _fail_with_invalid_utf8(server.port, pki, answer=frame(CLOSE_OP, close_payload(1007)))
    closes = [payload for op, payload in frames if op == CLOSE_OP]
    assert closes and int.from_bytes(closes[0][:2], "big") == 1007


async def test_a_client_that_sends_garbage_after_the_close_is_read_until_the_linger_ends(
    start_server, pki, monkeypatch
):
    monkeypatch.setattr(websocket, "FAIL_LINGER", 0.5)
    server = await start_server()
    with trio.fail_after(20):
        # not frames at all: the server cannot tell a close in them, so it lingers, then closes
        frames = await _fail_with_invalid_utf8(server.port, pki, answer=b"\x00" * 64)
    assert [op for op, _ in frames][-1] == CLOSE_OP
