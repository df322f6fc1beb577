"""A send cancelled part-way through its frame, on a plaintext (ws://) stream:
nothing is ever written after the truncated frame.  trio's SSLStream breaks
itself when a `send_all` is cancelled; a plain socket does not, and the next
frames (and the close frame) used to be written into the cut one, so the peer
read a message of garbage and then frames that were never sent.  The stream is
now dropped at once: the peer sees it end, and later sends raise
`ConnectionClosed`.  A raw TCP peer that stalls, wsctl's `open_device`.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from net_helpers import _accept_key, read_to_eof

from wsctl.core.errors import ConnectionClosed
from wsctl.net.api import open_device

BIG = 4 * 2**20  # far more than the kernel buffers while the peer does not read


def _first_frame_size(data: bytes) -> int:
    """Header plus declared payload of the (masked) frame ``data`` begins with."""
    n = data[1] & 0x7F
    if n == 126:
        return 4 + 4 + struct.unpack("!H", data[2:4])[0]
    if n == 127:
        return 10 + 4 + struct.unpack("!Q", data[2:10])[0]
    return 2 + 4 + n


async def test_a_send_cancelled_part_way_drops_the_stream(nursery):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listeners[0].socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the accepted one
    port = listeners[0].socket.getsockname()[1]
    cut = trio.Event()
    seen: dict[str, bytes] = {}

    async def stalling_device(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n\r\n"
        )
        await cut.wait()  # reads nothing until the first send was cancelled
        seen["data"] = await read_to_eof(stream, request.split(b"\r\n\r\n", 1)[1])

    nursery.start_soon(trio.serve_listeners, stalling_device, listeners)
    with trio.fail_after(20):
        async with open_device(f"ws://127.0.0.1:{port}/", allow_plaintext=True, close_timeout=2) as dev:
            with trio.move_on_after(0.3) as scope:
                await dev.send(b"\x01" * BIG)
            assert scope.cancelled_caught
            cut.set()
            with pytest.raises(ConnectionClosed) as info:
                await dev.send(b"\x02" * 1000)
            assert info.value.code == 1006
            # the peer sees the end while the block is still open: nobody has to close
            while "data" not in seen:
                await trio.sleep(0.01)
    data = seen["data"]
    # part of the first frame, then the end: no frame written into it, no close frame after it
    assert 0 < len(data) < _first_frame_size(data), len(data)
