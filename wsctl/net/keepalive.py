"""Keepalive pings.

A device that vanished without a FIN (power cut, cable pulled, NAT timeout) is
otherwise only noticed at the next send.  `keepalive` pings every ``interval``
seconds and calls ``on_dead`` when a pong does not come back within
``timeout``; the caller decides what dead means (the Device aborts the
connection, so a waiting `receive()` raises ConnectionClosed at once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from wsctl.net.websocket import ConnectionClosed, WebSocket

log = logging.getLogger("wsctl.net.keepalive")


async def keepalive(
    ws: WebSocket,
    *,
    interval: float,
    timeout: float,
    on_dead: Callable[[str], Awaitable[None]],
) -> None:
    """Run until the connection closes; never raises for a closed connection."""
    if interval <= 0 or timeout <= 0:
        raise ValueError("keepalive interval and timeout must be positive")
    while ws.closed is None:
        await trio.sleep(interval)
        if ws.closed is not None:
            return
        with trio.move_on_after(timeout) as scope:
            try:
                await ws.ping()
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                return  # closing anyway
        if scope.cancelled_caught:
            why = f"keepalive: no pong within {timeout:g} s"
            log.info(why)
            await on_dead(why)
            return
