"""One connection's side of a simulated device (`wsctl.net.simulate`): its codec,
its peer, and its outbox.

A simulator holds thousands of connections, so a connection has no task of
its own beyond the one reading it: telemetry and the device's own calls go to
the outbox, and a task in the simulator's nursery sends them, started when
there is something to send and gone when it is sent (a task per connection
waiting on a channel was ~8 KiB of memory per connection: its frames, its
nursery's cancel scope, the channel's state and deque).  Replies are sent by
the reader, after what was offered before them, so every frame goes out in
the order it was made.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed
from wsctl.core.profile.device_side import DeviceCodec
from wsctl.core.sim import Emit

log = logging.getLogger("wsctl.net.simulate")

#: frames waiting in a connection's outbox; telemetry beyond this is dropped
QUEUE_SIZE = 256
#: longest a `close` step waits for what was offered before it
CLOSE_DRAIN = 2.0
#: delayed replies one connection may have waiting at once (each is a task and
#: a request remembered); past it the reader waits out each delay itself
#: before reading on, as in lockstep: a peer that floods is slowed, not served
MAX_DELAYED = 256


class Link:
    """One connection's side of the simulator: its outbox, sent by a task in
    ``nursery`` while there is something in it (see the module)."""

    __slots__ = (
        "conn",
        "codec",
        "peer",
        "station",
        "nursery",
        "ended",
        "delayed",
        "_over",
        "_out",
        "_sending",
        "_idle",
    )

    def __init__(self, conn: Any, codec: DeviceCodec, peer: Any, nursery: trio.Nursery) -> None:
        self.conn = conn
        self.codec = codec
        self.peer = peer
        #: the station certificates of this connection (OCPP chargers), or None
        self.station: Any = None
        self.nursery = nursery
        #: the conversation is over: nothing more is sent
        self.ended = False
        #: delayed replies waiting in their own tasks
        self.delayed = 0
        self._over: trio.Event | None = None  # set at the end; made by the first delayed reply
        self._out: list[str] | None = None
        self._sending = False  # a task sends the outbox
        self._idle: trio.Event | None = None  # made only while a reply waits for that task

    def offer(self, wire: str) -> None:
        """Telemetry or a device call: sent soon, dropped when the outbox is full."""
        if self.ended:
            return
        out = self._out
        if out is None:
            out = self._out = []
        elif len(out) >= QUEUE_SIZE:
            log.warning("%s: not reading; telemetry dropped", self.peer.remote)
            return
        out.append(wire)
        if not self._sending:
            self._sending = self.spawn(self._send_out)

    def spawn(self, afn: Any, *args: Any) -> bool:
        """Start ``afn(*args)`` in the simulator's nursery; False once that is
        closed (the simulator stopped while this conversation still runs)."""
        try:
            self.nursery.start_soon(afn, *args)
        except RuntimeError:  # trio: "Nursery is closed to new arrivals"
            self._out = None
            return False
        return True

    async def _send_out(self) -> None:
        try:
            while self._out and not self.ended:
                batch, self._out = self._out, None
                for wire in batch:
                    await self.conn.send(wire)
        except ConnectionClosed:
            self._out = None  # the reader sees the end and ends the conversation
        except Exception:  # noqa: BLE001 - one connection's failure must not stop the simulator's nursery
            log.exception("%s: sending telemetry failed", self.peer.remote)
            self._out = None
        finally:
            self._sending = False
            if self._idle is not None:
                self._idle.set()
                self._idle = None

    async def _drained(self) -> None:
        """Until what was offered before now is sent."""
        while self._sending:
            if self._idle is None:
                self._idle = trio.Event()
            await self._idle.wait()

    async def send(self, wire: str) -> None:
        """A reply: after what was offered before it; waits while the peer reads slowly."""
        await self._drained()
        await self.conn.send(wire)

    async def close(self, code: int, reason: str) -> None:
        """A `close` step: what was sent before it goes out first (bounded), then the close."""
        with trio.move_on_after(CLOSE_DRAIN):
            await self._drained()
        self.end()
        await self.conn.close(code, reason)

    def end(self) -> None:
        """The conversation is over: nothing more is sent, delayed replies stop waiting."""
        self.ended = True
        if self._over is not None:
            self._over.set()

    async def wait_or_end(self, seconds: float) -> None:
        """Sleep SECONDS, or less if the conversation ends first."""
        if self.ended:
            return
        if self._over is None:
            self._over = trio.Event()
        with trio.move_on_after(seconds):
            await self._over.wait()

    def emit(self, emit: Emit, now: float) -> None:
        if emit.wire is not None:
            self.offer(emit.wire)
            return
        call = self.codec.device_call(emit.event, emit.payload, now=now)
        if call is not None:
            self.offer(call[1])

    def release(self, now: float) -> None:
        for _, wire in self.codec.due(now):
            self.offer(wire)
