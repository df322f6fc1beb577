"""The peer's close is answered even when the caller's deadline runs out just
as its close frame is read: the state is CLOSED by then, so nobody would
answer it later, and the peer waited out its close timeout and recorded 1006.
The reply is written shielded (and bounded), as `_fail`'s close frame is.

A real TCP connection to a raw peer; the deadline is made to run out at that
moment by a pass-through stream that cancels the caller's scope when a read
returns (in trio a task already given its data sees the cancel only at its
next checkpoint, which is what this reproduces on purpose)."""

from __future__ import annotations

import pytest
import trio
from net_helpers import close_of, close_payload, frame, read_to_eof

from wsctl.net.websocket import ConnectionClosed, WebSocket


class CancelsOnRead(trio.abc.Stream):
    """A real stream whose reads cancel ``scope`` as they return data."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.scope: trio.CancelScope | None = None

    async def send_all(self, data) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes=None) -> bytes:
        data = await self.inner.receive_some(max_bytes)
        if data and self.scope is not None:
            self.scope.cancel()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    ours = await trio.open_tcp_stream("127.0.0.1", listeners[0].socket.getsockname()[1])
    theirs = await listeners[0].accept()
    await listeners[0].aclose()
    return ours, theirs


@pytest.mark.parametrize("is_server", [False, True])
async def test_the_close_reply_is_sent_when_the_deadline_runs_out_as_the_close_is_read(is_server):
    ours, theirs = await _pair()
    stream = CancelsOnRead(ours)
    ws = WebSocket(stream, is_server=is_server)
    with trio.fail_after(5):
        await theirs.send_all(frame(0x8, close_payload(1000, b"bye"), mask=is_server))
        with trio.CancelScope() as scope:
            stream.scope = scope
            try:
                await ws.get_message()
            except ConnectionClosed:
                pass  # or cancelled at the next checkpoint: either way the caller's wait is over
        assert scope.cancel_called
        stream.scope = None
        assert ws.closed is not None and ws.closed.code == 1000
        if is_server:
            got = await read_to_eof(theirs)  # and the server closed TCP first (RFC 6455 7.1.1)
        else:
            got = await theirs.receive_some(4096)
        await ws.aclose()
    assert close_of(got) == (1000, "bye")
