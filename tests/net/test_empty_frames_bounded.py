"""Empty frames are not free: an empty message held unread, and each fragment
of a message being assembled, count against ``max_buffered_bytes`` beyond
their payload (`websocket.HELD_COST`); empty fragments are not kept at all.
Before, 150 MiB of 6-byte empty frames grew the server by 200 MiB under a
4 MiB bound.  A real server, a raw TLS client."""

from __future__ import annotations

import trio
from net_helpers import frame, raw_client

from wsctl.net import websocket

#: what the server charges per message held beyond its payload (64 today)
HELD_COST = getattr(websocket, "HELD_COST", 64)

TEXT, CONT = 0x1, 0x0


async def _held_by_a_handler_that_never_reads(start_server, pki, data: bytes, limit: int):
    seen: list = []
    release = trio.Event()

    async def never_reads(conn):
        with trio.move_on_after(5):
            while conn._ws.failure is None:
                await trio.sleep(0.01)
        seen.append((conn._ws.failure.code if conn._ws.failure else None, conn._ws.peak_buffered, conn._ws._parts))
        await release.wait()

    server = await start_server(never_reads, max_message_size=limit, max_buffered_bytes=limit, idle_timeout=600)
    with trio.fail_after(15):
        tls, _rest = await raw_client(server.port, pki)
        try:
            await tls.send_all(data)
        except trio.BrokenResourceError:
            pass  # closed by the server once over the bound
        while not seen:
            await trio.sleep(0.01)
        release.set()
    return seen[0]


async def test_empty_messages_held_unread_are_bounded_and_closed_1008(start_server, pki):
    limit = 64 * 1024
    empties = frame(TEXT, b"") * (2 * limit // HELD_COST)  # twice what the bound holds
    code, peak, _parts = await _held_by_a_handler_that_never_reads(start_server, pki, empties, limit)
    assert code == 1008 and peak <= limit


async def test_empty_fragments_are_not_kept_and_small_ones_are_bounded(start_server, pki):
    limit = 64 * 1024
    empty_fragments = frame(TEXT, b"a", fin=False) + frame(CONT, b"", fin=False) * 20000
    code, _peak, _parts = await _held_by_a_handler_that_never_reads(
        start_server, pki, empty_fragments + frame(CONT, b"b", fin=False) * (2 * limit // HELD_COST), limit
    )
    assert code == 1008  # the one-byte fragments hit the bound long before their payload would
