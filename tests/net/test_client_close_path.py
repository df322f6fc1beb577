"""What a client's connection does on close, once and only once (the per-device
costs of a fan-out, docs/performance.md session 9).  Real TLS server on port 0."""

from __future__ import annotations

import pytest
import trio

from wsctl.net import websocket
from wsctl.net.api import open_device


def _count_closes(monkeypatch) -> list[int]:
    closes: list[int] = []
    plain = trio.SSLStream.aclose

    async def counted(self):
        closes.append(id(self))
        await plain(self)

    monkeypatch.setattr(trio.SSLStream, "aclose", counted)
    return closes


async def test_a_normal_close_closes_the_tls_stream_once(start_server, alice_kw, monkeypatch):
    closes = _count_closes(monkeypatch)
    server = await start_server()
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.send("hi")
            assert await dev.receive(timeout=5) == "hi"
            stream = dev._stream
            client_closes = lambda: closes.count(id(stream))  # noqa: E731 - the server's streams close too
    # the close handshake closed it (with close_notify); Device.close did not close it again
    assert client_closes() == 1
    assert dev.closed == (1000, "")


async def test_a_close_that_left_the_stream_open_still_closes_it(start_server, alice_kw, monkeypatch):
    server = await start_server()
    plain = websocket.WebSocket.aclose
    client: list[websocket.WebSocket] = []

    async def stuck(self, code=1000, reason=None):
        if self not in client:  # the server's side closes as usual
            await plain(self, code, reason)

    monkeypatch.setattr(websocket.WebSocket, "aclose", stuck)
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            client.append(dev._ws)  # its close handshake never reaches the stream
            stream = dev._stream
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(b"x")


async def test_a_block_left_by_cancellation_still_closes_with_a_close_handshake(start_server, alice_kw):
    ends: list[tuple[int, str] | None] = []
    done = trio.Event()

    async def handler(conn):
        try:
            async for _ in conn:
                pass
        finally:
            ends.append(conn.closed)
            done.set()

    server = await start_server(handler)
    with trio.fail_after(15):
        with trio.CancelScope() as outer:
            async with open_device(server.url, **alice_kw, close_timeout=5):
                outer.cancel()  # e.g. Ctrl-C, or a fleet's deadline: the close is shielded from it
                await trio.sleep_forever()
        await done.wait()
    assert ends == [(1000, "")]
