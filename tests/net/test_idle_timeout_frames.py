"""The server's idle timeout counts whole frames, not bytes: a client that
trickles a frame that never ends, one byte inside each timeout, is closed
(1001) once ``idle_timeout`` passed since its last whole frame.  Before, each
byte reset the timer and such a client held its connection and its slot for
as long as it liked.  A real TLS server, a raw client."""

from __future__ import annotations

import trio
from net_helpers import close_of, frame, raw_client


async def _trickle(tls: trio.SSLStream, head: bytes, every: float) -> None:
    await tls.send_all(head)
    try:
        while True:
            await trio.sleep(every)
            await tls.send_all(b"x")
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_a_frame_trickled_byte_by_byte_is_not_life(start_server, pki):
    server = await start_server(idle_timeout=1.0)
    tls, rest = await raw_client(server.port, pki)
    head = frame(0x1, b"y" * 100)[:6]  # header and masking key of a 100-byte text frame, never finished
    start = trio.current_time()
    with trio.fail_after(6):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_trickle, tls, head, 0.2)
            data = rest
            while close_of(data) is None:
                chunk = await tls.receive_some(4096)
                assert chunk, data
                data += chunk
            nursery.cancel_scope.cancel()
    assert close_of(data) == (1001, "idle timeout")
    assert trio.current_time() - start < 3


async def test_whole_frames_are_life(start_server, pki):
    """The same client sending whole (empty) fragments instead stays open."""
    server = await start_server(idle_timeout=1.0)
    tls, rest = await raw_client(server.port, pki)
    with trio.fail_after(10):
        await tls.send_all(frame(0x1, b"", fin=False))
        for _ in range(10):
            await trio.sleep(0.25)
            await tls.send_all(frame(0x0, b"", fin=False))
        await tls.send_all(frame(0x0, b"done"))
        data = rest
        while not data.endswith(b"done"):
            chunk = await tls.receive_some(4096)
            assert chunk, data
            data += chunk
    assert close_of(data) is None
