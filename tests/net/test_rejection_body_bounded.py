"""A non-101 answer is reported once its status and the first
`MAX_REJECTION_BODY` bytes of its body are in: a server that streams a body
without end (a huge Content-Length, or none) used to be read until the connect
deadline, the body copied whole at every piece.  A raw TCP server."""

from __future__ import annotations

import pytest
import trio

from wsctl.net.ws_handshake import MAX_REJECTION_BODY, ConnectionRejected, open_client


@pytest.mark.parametrize("length", [b"Content-Length: 100000000000\r\n", b""])
async def test_an_endless_rejection_body_is_cut_at_the_bound(nursery, length):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    sent = [0]

    async def endless(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 403 Forbidden\r\n" + length + b"\r\n")
        try:
            while True:
                await stream.send_all(b"z" * 4096)
                sent[0] += 4096
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    nursery.start_soon(trio.serve_listeners, endless, listeners)
    stream = await trio.open_tcp_stream("127.0.0.1", listeners[0].socket.getsockname()[1])
    with trio.fail_after(5):  # the old reader read on until this deadline
        with pytest.raises(ConnectionRejected) as info:
            await open_client(stream, "127.0.0.1", "/")
    await stream.aclose()
    assert info.value.status_code == 403
    assert info.value.body == b"z" * MAX_REJECTION_BODY
