"""Taking a connection's pings and pongs before trio-websocket answers them.

trio-websocket answers every ping itself, in its reader task, and drops
every pong no `ping()` of its own waits for; it has no event or callback for
either.  The recording proxy must instead relay them (a tool's ping reaches
the device, the device's pong comes back) and record them.  The reader task
reads events from ``ws._wsproto.events()`` on each pass of its loop, so
`ControlFrames` puts a filter in front of that wsproto connection: pings,
and pongs that answer nobody in this process, go to a channel instead of to
trio-websocket; a pong one of trio-websocket's own ``ping()`` calls waits
for (a keepalive of the proxy itself) still reaches it and nothing else.

This is the third place wsctl touches trio-websocket internals (0.12.x:
``_wsproto``, ``_pings``, ``_send``; the others are in `_guard`), guarded the
same way: tests/record/test_proxy_pings.py fails on an upgrade that moves them.
The filter can only be installed once the connection exists, so a ping that
arrives between the upgrade and the handler's first line is still answered
by trio-websocket (and not recorded); a flood beyond the channel's room is
dropped, which RFC 6455 5.5.3 allows (only the latest ping needs its pong).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
import trio_websocket
from wsproto.events import Ping, Pong
from wsproto.utilities import LocalProtocolError

log = logging.getLogger("wsctl.net")

#: control frames waiting to be relayed, per connection
ROOM = 32


class _Filter:
    """Stands in for the wsproto connection trio-websocket reads events from."""

    def __init__(self, inner: Any, frames: ControlFrames) -> None:
        self._inner = inner
        self._frames = frames

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def events(self) -> Any:
        for event in self._inner.events():
            if isinstance(event, Ping):
                self._frames.push("ping", bytes(event.payload))
                continue
            if isinstance(event, Pong) and bytes(event.payload) not in self._frames.own_pings:
                self._frames.push("pong", bytes(event.payload))
                continue
            yield event


class ControlFrames:
    """Pings and pongs of one connection, for the caller to relay: ``async for kind, payload in frames``."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, label: str = "") -> None:
        self._ws = ws
        self.label = label
        self._send, self._receive = trio.open_memory_channel(ROOM)
        ws._wsproto = _Filter(ws._wsproto, self)

    @property
    def own_pings(self) -> Any:
        return self._ws._pings

    def push(self, kind: str, payload: bytes) -> None:
        try:
            self._send.send_nowait((kind, payload))
        except trio.WouldBlock:
            log.debug("%s: %s dropped, %d waiting already", self.label, kind, ROOM)

    def __aiter__(self) -> Any:
        return self._receive.__aiter__()

    async def send(self, kind: str, payload: bytes) -> bool:
        """Send a ping or a pong frame with this payload; False once the connection is closed."""
        try:
            # a relayed ping is not trio-websocket's own: its `ping()` would wait
            # for the pong, and the pong belongs to the other side
            await self._ws._send(Ping(payload=payload) if kind == "ping" else Pong(payload=payload))
        except (
            trio_websocket.ConnectionClosed,
            LocalProtocolError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
        ):
            return False
        return True
