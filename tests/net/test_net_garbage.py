"""Connections leave no cyclic garbage behind (issue 14: a server holding
thousands of connections spent most of its CPU in full collections).

Each test runs real connections, then asks the collector what it found
unreachable (`gc.DEBUG_SAVEALL` keeps it in `gc.garbage`): nothing of a
connection may be there — it must go when its last reference does.
"""

from __future__ import annotations

import gc
import ssl

import trio

from wsctl.net._guard import ObservedStream
from wsctl.net.api import open_device
from wsctl.net.serverconn import ServerConnection


def _server_side(obj: object) -> bool:
    """A part of a server's connection (the client's are the client's business)."""
    if isinstance(obj, ssl.SSLObject):
        return obj.server_side
    if isinstance(obj, trio.SSLStream):
        return obj._ssl_object.server_side
    if isinstance(obj, ObservedStream):
        return isinstance(obj.inner, trio.SSLStream) and obj.inner._ssl_object.server_side
    return isinstance(obj, ServerConnection)


def _connection_garbage() -> list[str]:
    gc.collect()
    try:
        return sorted({type(o).__name__ for o in gc.garbage if _server_side(o)})
    finally:
        gc.garbage.clear()


async def _exchange(url: str, alice_kw: dict) -> None:
    async with open_device(url, **alice_kw) as dev:
        await dev.send("hello")
        assert await dev.receive(timeout=5) == "hello"


async def test_closed_connections_are_freed_without_the_cycle_collector(start_server, alice_kw):
    server = await start_server(idle_timeout=600)
    with trio.fail_after(20):
        await _exchange(server.url, alice_kw)  # imports and caches before we look
        gc.collect()
        gc.garbage.clear()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                await _exchange(server.url, alice_kw)
            while server.connections:
                await trio.sleep(0.01)
            found = _connection_garbage()
        finally:
            gc.set_debug(0)
    assert found == []
