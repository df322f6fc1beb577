"""Taking a connection's pings and pongs instead of answering them.

A connection (`wsctl.net.websocket.WebSocket`) answers every ping itself and
drops every pong no `ping()` of its own waits for.  The recording proxy must
instead relay them (a tool's ping reaches the device, the device's pong comes
back) and record them.  `ControlFrames` sets the connection's ``on_control``
hook: pings, and pongs that answer nobody in this process, go to a channel
instead; a pong one of the connection's own ``ping()`` calls waits for (a
keepalive of the proxy itself) still reaches it and nothing else.

The hook can only be set once the connection exists, so a ping that arrives
with the upgrade, before the handler's first line, is still answered by the
connection (and not recorded); a flood beyond the channel's room is dropped,
which RFC 6455 5.5.3 allows (only the latest ping needs its pong).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from wsctl.net.websocket import ConnectionClosed, WebSocket

log = logging.getLogger("wsctl.net")

#: control frames waiting to be relayed, per connection
ROOM = 32


class ControlFrames:
    """Pings and pongs of one connection, for the caller to relay: ``async for kind, payload in frames``."""

    def __init__(self, ws: WebSocket, label: str = "") -> None:
        self._ws = ws
        self.label = label
        self._send, self._receive = trio.open_memory_channel(ROOM)
        ws.on_control = self.push

    def push(self, kind: str, payload: bytes) -> bool:
        try:
            self._send.send_nowait((kind, payload))
        except trio.WouldBlock:
            log.debug("%s: %s dropped, %d waiting already", self.label, kind, ROOM)
        return True

    def __aiter__(self) -> Any:
        return self._receive.__aiter__()

    async def send(self, kind: str, payload: bytes) -> bool:
        """Send a ping or a pong frame with this payload; False once the connection is closed."""
        try:
            # a relayed ping is not the connection's own: its `ping()` would wait
            # for the pong, and the pong belongs to the other side
            await self._ws.send_control(kind, payload)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True
