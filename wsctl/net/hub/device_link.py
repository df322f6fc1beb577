"""One device connected to a hub: its session, its call queue, its watchers.

The hub talks to the device as any wsctl client talks to a device — through a
`Session` on the profile — with two differences: the device's own requests
are answered by the hub's central side (``respond``), and the device's own
messages are copied to every operator watching it.

Calls are serialised here as the protocol demands.  With ``max_in_flight = 1``
(OCPP: one outstanding call per direction) a fair `trio.Lock` hands the slot
to waiting operators in arrival order; at most ``max_waiting`` may wait, the
next one is refused at once ("busy") instead of piling up.  A call the device
does not answer in time frees the slot; its late reply reaches the log as an
unmatched message, never the next operator.

Watchers get raw frames through bounded channels: a slow operator loses
messages (counted, logged once per burst), it never slows the device down.

A hub holds tens of thousands of these, so a link keeps only what is its own
(``__slots__``; the call slot's lock made on the first call): the watch table
and the profile are the hub's, shared by every link.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import trio

from wsctl.core.errors import DeviceError, Timeout
from wsctl.core.hub.central import reply_problem
from wsctl.core.profile.events import CodecEvent, DeviceErrorInfo, DeviceRequest, Malformed, Reply, Unmatched
from wsctl.core.profile.model import Command, Profile
from wsctl.net.session import Session

log = logging.getLogger("wsctl.net.hub")

#: operators that may wait for a device's call slot before "busy"
MAX_WAITING = 32
#: frames buffered per watching operator before its copies are dropped
WATCH_BUFFER = 256


class LazyEvent:
    """A `trio.Event` made only when somebody waits for it: a link's ``gone``
    and ``booted`` are mostly set with nobody waiting, and an Event is 264
    bytes (its set of waiting tasks) per device connection."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._event: trio.Event | None = None
        self._set = False

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            await trio.lowlevel.checkpoint()
            return
        if self._event is None:
            self._event = trio.Event()
        await self._event.wait()


class Busy(DeviceError):
    """Too many operator calls already wait for this device."""


class DeviceLink:
    """A connected device; ``conn`` is its (possibly recorded) server connection;
    ``watch_table``: the hub's device id -> watching operators' channels (kept
    by the hub: operators keep watching across reconnects)."""

    __slots__ = (
        "device_id",
        "conn",
        "profile",
        "security_profile",
        "session",
        "max_waiting",
        "_lock",
        "_waiting",
        "watch_table",
        "forward",
        "dropped",
        "gone",
        "boot_status",
        "booted",
    )

    def __init__(
        self,
        device_id: str,
        conn: Any,
        profile: Profile,
        *,
        respond: Callable[[DeviceRequest | Malformed], str | None],
        security_profile: int,
        watch_table: dict[str, set[trio.MemorySendChannel[str | bytes]]],
        forward: Callable[[str, CodecEvent], None] | None = None,
        max_waiting: int = MAX_WAITING,
        profile_answers: bool = True,
    ) -> None:
        self.device_id = device_id
        self.conn = conn
        self.profile = profile
        self.security_profile = security_profile
        self.session = Session(conn, profile, on_event=self._event, respond=respond, profile_answers=profile_answers)
        self.max_waiting = max_waiting
        #: the call slot (max_in_flight = 1), made on the first call
        self._lock: trio.Lock | None = None
        self._waiting = 0
        self.watch_table = watch_table
        #: the federation's hook for the device's messages (`Peers.device_message`)
        self.forward = forward
        self.dropped = 0
        self.gone = LazyEvent()
        #: the booted state the central side reported (OCPP: Accepted/Pending/Rejected)
        self.boot_status: str | None = None
        self.booted = LazyEvent()

    @property
    def remote(self) -> str:
        return str(getattr(self.conn, "remote", "?"))

    async def run(self) -> None:
        """Read the device until it goes; then every waiting call fails."""
        try:
            await self.session.run()
        finally:
            self.gone.set()

    def _event(self, item: CodecEvent) -> None:
        if isinstance(item, Unmatched):
            # a reply after its call timed out, or to nobody: the log, not an operator
            log.info("%s: %s: %s", self.device_id, item.reason, _short(item.raw))
        elif isinstance(item, Malformed):
            log.warning("%s: malformed message (%s): %s", self.device_id, item.reason, _short(item.raw))
        if self.forward is not None:
            self.forward(self.device_id, item)
        watchers = self.watch_table.get(self.device_id)
        if not watchers:
            return
        for watcher in list(watchers):
            try:
                watcher.send_nowait(item.raw)
            except trio.WouldBlock:
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("%s: a watching operator is slow: %d messages dropped", self.device_id, self.dropped)
            except trio.BrokenResourceError:
                watchers.discard(watcher)

    async def call(self, command: Command, params: dict[str, Any], *, timeout: float) -> Reply:
        """One call through the device's slot (FIFO, bounded); raises `Busy`,
        `Timeout`, `ConnectionClosed`.  ``timeout`` covers the wait for the
        slot and the call together: the operator's tool gives up after it, so
        a call still waiting then must not reach the device afterwards.  A
        reply that breaks the protocol's RPC rules (`reply_problem`) comes
        back as the protocol's device error saying so, never relayed as it is."""
        reply = await self._call(command, params, timeout)
        problem = reply_problem(self.profile, reply.raw)
        if problem is None:
            return reply
        log.warning("%s: malformed reply to %s (%s): %s", self.device_id, command.key, problem, _short(reply.raw))
        why = f"hub: {self.device_id}'s reply is not valid OCPP-J: {problem}"
        error = DeviceErrorInfo(self.profile.framing.errors["device"].code, why, {})
        return dataclasses.replace(reply, payload=None, error=error, failed_check=None)

    async def _call(self, command: Command, params: dict[str, Any], timeout: float) -> Reply:
        if self.profile.framing.max_in_flight != 1:
            return await self.session.call(command, params, timeout=timeout)
        if self._lock is None:
            self._lock = trio.Lock()
        if self._waiting >= self.max_waiting:
            raise Busy(f"{self.device_id}: {self._waiting} calls already wait for the device; try again later")
        deadline = trio.current_time() + timeout
        self._waiting += 1
        try:
            with trio.move_on_at(deadline) as waited:
                await self._lock.acquire()
        finally:
            self._waiting -= 1
        left = deadline - trio.current_time()
        if left <= 0:  # the slot came free too late, or not at all
            if not waited.cancelled_caught:
                self._lock.release()
            raise Timeout(f"{command.key}: {self.device_id} was busy with other calls for {timeout:g} s")
        try:
            return await self.session.call(command, params, timeout=left)
        finally:
            self._lock.release()

    async def close(self, code: int, reason: str) -> None:
        await self.conn.close(code, reason)


def _short(raw: str | bytes, limit: int = 200) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= limit else text[:limit] + "..."
