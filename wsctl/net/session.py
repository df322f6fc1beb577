"""The one message path between a device connection and whoever uses it.

Every verb and the Python API talk to a device through a `Session`: it reads
each inbound message, decodes it with the profile's sans-I/O `ClientCodec`
(without a profile every message is a `Received` event), and routes what comes
out — replies wake the call waiting for them (several calls can be in flight
where the protocol allows; OCPP and lockstep allow one, and further calls wait
for the slot), device requests the protocol demands an answer to (OCPP
BootNotification, Heartbeat) are answered here and nowhere else, and every
other event goes to the session's user, never mistaken for a reply.

Two ways to read, one rule for each step:

* `run` is a reader task (needed while calls wait: telemetry and device
  requests must be handled while no call waits, so the reader cannot be the
  caller); events go to ``on_event``, or to a bounded buffer that `events`
  drains.
* without `run`, `events` reads the connection itself, one message per event
  (watch, record capture: nothing is read ahead of what is shown or counted),
  and so does `call` until its reply is in (a one-shot command: what arrives
  before the reply is routed on the way; nothing is read after it).

`events` follows the close rule of every wsctl connection
(`wsctl.net.channel`): it ends when the device closes normally (1000/1001)
and raises `ConnectionClosed` for any other end.  Recording is hooked in below
the session (`Recorder.open` wraps the device), so a session never knows
whether it is recorded.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, DeviceError, InvalidInput, NotAuthorized, Timeout, WsctlError
from wsctl.core.profile.codec import ClientCodec, bind_params
from wsctl.core.profile.events import CodecEvent, DeviceErrorInfo, DeviceRequest, Malformed, Outgoing, Received, Reply
from wsctl.core.profile.model import Command, Profile
from wsctl.net.channel import ends_iteration

log = logging.getLogger("wsctl.net.session")

#: session events kept for `events` while nobody reads them
EVENT_BUFFER = 1000


def _uuid4() -> str:
    return str(uuid.uuid4())


class Session:
    """A device connection spoken through (optionally) a profile.

    ``device`` is anything with ``send``/``receive`` (`Device`, a recorded
    device); ``on_event`` receives every event that is not a reply to a call,
    in the reader task; without it, events are buffered for `events`.
    ``respond`` replaces the profile's own answers: called with each device
    request and each malformed message, it returns the frame to send back (or
    None: nothing) — the hub answers as the central side of the protocol;
    ``profile_answers=False`` when ``respond`` never falls back on the
    profile's own answer (`DeviceRequest.answer` is None then).
    """

    def __init__(
        self,
        device: Any,
        profile: Profile | None = None,
        *,
        on_event: Callable[[CodecEvent], None] | None = None,
        buffer: int = EVENT_BUFFER,
        respond: Callable[[DeviceRequest | Malformed], str | None] | None = None,
        profile_answers: bool = True,
    ) -> None:
        self.device = device
        self._respond = respond
        self.profile = profile
        self.codec = (
            ClientCodec(profile, wall=time.time, new_uuid=_uuid4, answers=profile_answers)
            if profile is not None
            else None
        )
        self._on_event = on_event
        self._buffer_size = buffer
        self._buffer: tuple[trio.MemorySendChannel[CodecEvent], trio.MemoryReceiveChannel[CodecEvent]] | None = None
        self._running = False
        #: calls waiting for their reply: id(Outgoing) -> [event, box]
        self._waiters: dict[int, list[Any]] = {}
        #: the call reading the connection for everybody while no `run` task does
        self._reader: list[Any] | None = None
        #: set when a call slot frees up; made only while a call waits for one
        self._slot_freed: trio.Event | None = None
        self._slot_waiters = 0
        self._closed: WsctlError | None = None

    @property
    def closed_error(self) -> WsctlError:
        """Why the connection ended (after `run` returned or `events` ended)."""
        return self._closed or ConnectionClosed("connection closed")

    def command(self, key: str) -> Command:
        profile = self._profile("call()")
        command = profile.command(key)
        if command is None:
            raise InvalidInput(
                f"unknown command {key!r} for profile {profile.id} (commands: {', '.join(profile.commands)})"
            )
        return command

    def _profile(self, what: str) -> Profile:
        if self.profile is None:
            raise InvalidInput(f"{what} needs a profile: open_device(url, profile='conveyor', ...)")
        return self.profile

    # -- reading ---------------------------------------------------------------
    async def _read(self) -> list[CodecEvent]:
        """Read one message and route it; the events that are the user's."""
        message = await self.device.receive()
        if self.codec is None:
            return [Received(message)]
        mine = []
        for item in self.codec.feed(message, now=trio.current_time()):
            if isinstance(item, Reply) and item.request is not None and id(item.request) in self._waiters:
                event, box = self._waiters[id(item.request)]
                box.append(item)
                event.set()
                self._free_slot()
                continue
            if self._respond is not None and isinstance(item, (DeviceRequest, Malformed)):
                answer = self._respond(item)
                if answer is not None:
                    await self.device.send(answer)
            elif isinstance(item, DeviceRequest) and item.answer is not None:
                await self.device.send(item.answer)
            mine.append(item)
        return mine

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Read until the connection closes; then fail every waiting call."""
        self._running = True
        if self._on_event is None and self._buffer is None:
            # buffered from the first message on: telemetry that arrives before
            # the user starts iterating `events()` is not lost
            self._buffer = trio.open_memory_channel(self._buffer_size)
        task_status.started()
        try:
            while True:
                # delivered in a call of its own: a loop variable here would hold
                # the last event (its message, parsed payload and answer) on
                # every idle connection while the next read waits
                self._deliver_all(await self._read())
        except ConnectionClosed as exc:
            self._closed = exc
        finally:
            if self._closed is None:
                self._closed = ConnectionClosed("connection closed")
            for event, _ in self._waiters.values():
                event.set()
            self._free_slot()
            if self._buffer is not None:
                self._buffer[0].close()

    def _deliver_all(self, items: list[CodecEvent]) -> None:
        for item in items:
            self._deliver(item)

    def _deliver(self, item: CodecEvent) -> None:
        if self._on_event is not None:
            self._on_event(item)
            return
        if self._buffer is None:  # events read by a call while no `run` task reads: kept for `events`
            self._buffer = trio.open_memory_channel(self._buffer_size)
        try:
            self._buffer[0].send_nowait(item)
        except trio.WouldBlock:
            log.warning("event buffer full: dropping %s", type(item).__name__)

    async def events(self) -> AsyncIterator[CodecEvent]:
        """Telemetry, device requests (already answered), unrecognised messages
        (and `Received` messages without a profile) as they arrive.

        Ends when the device closes normally (1000/1001); raises
        `ConnectionClosed` for any other end."""
        if self._running:
            if self._buffer is None:
                raise InvalidInput("events() and on_event: the session's events already go to on_event")
            async for item in self._buffer[1]:
                yield item
            if not ends_iteration(self._closed):
                raise self.closed_error
            return
        if self._buffer is not None:  # read on the way by calls before
            while True:
                try:
                    yield self._buffer[1].receive_nowait()
                except trio.WouldBlock:
                    break
        while True:
            try:
                items = await self._read()
            except ConnectionClosed as exc:
                self._closed = exc
                if ends_iteration(exc):
                    return
                raise
            for item in items:
                yield item

    def _free_slot(self) -> None:
        # an Event only while a call waits for a slot (hot path, and one per
        # idle connection otherwise: 264 bytes each)
        if self._slot_waiters and self._slot_freed is not None:
            self._slot_freed.set()
            self._slot_freed = None

    # -- calls -----------------------------------------------------------------
    async def call(
        self,
        command: str | Command,
        params: dict[str, Any] | None = None,
        *,
        raw_params: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Send a command and wait for its reply (needs a profile and `run`).

        `params` are Python values, `raw_params` command-line strings; both are
        checked against the command's schema before anything is sent.  Raises
        `Timeout`, `ConnectionClosed`, or returns the `Reply` (check `.ok`, or
        use `raise_for_reply`).
        """
        cmd = command if isinstance(command, Command) else self.command(command)
        codec = self.codec
        if codec is None:
            self._profile("call()")
        assert codec is not None
        bound = (
            bind_params(cmd, raw_params, from_text=True)
            if raw_params is not None
            else bind_params(cmd, params or {}, from_text=False)
        )
        limit = timeout if timeout is not None else cmd.timeout
        deadline = trio.current_time() + limit
        if not codec.can_send():
            await self._wait_for_slot(codec, deadline, cmd, limit)
        if self._closed is not None:
            raise self._closed
        out: Outgoing = codec.call(cmd, bound, now=trio.current_time(), timeout=deadline - trio.current_time())
        waiter: list[Any] = [trio.Event(), []]
        box = waiter[1]
        self._waiters[id(out)] = waiter
        try:
            await self.device.send(out.wire)
            with trio.move_on_at(deadline):
                await self._await_reply(waiter)
        finally:
            del self._waiters[id(out)]
            if not box:
                codec.cancel(out)
                self._free_slot()
        if box:
            return box[0]
        if self._closed is not None:
            raise self._closed
        raise Timeout(f"{cmd.key}: no reply within {limit:g} s")

    async def _await_reply(self, waiter: list[Any]) -> None:
        """Until the call's box holds its reply or the connection ended.

        `run` routes the reply when it runs; without it, the call reads the
        connection itself — routing whatever else comes on the way (events,
        device requests, other calls' replies) as `run` would — and hands the
        reading over to another waiting call when its own reply is in.  A
        one-shot command then costs no reader task, nursery or channel hop
        (~0.2 ms of CPU per device of a fan-out, docs/performance.md)."""
        while not waiter[1] and self._closed is None:
            if self._running or self._reader is not None:
                await waiter[0].wait()
                waiter[0] = trio.Event()  # answered, or woken to take over the reading
                continue
            self._reader = waiter
            try:
                while not waiter[1]:
                    self._deliver_all(await self._read())
            except ConnectionClosed as exc:
                self._closed = exc
                for other in self._waiters.values():
                    other[0].set()
            finally:
                self._reader = None
                for other in self._waiters.values():
                    if other is not waiter and not other[1]:
                        other[0].set()  # the next waiting call reads from here on
                        break

    async def _wait_for_slot(self, codec: ClientCodec, deadline: float, cmd: Command, limit: float) -> None:
        self._slot_waiters += 1
        try:
            with trio.move_on_at(deadline):
                while not codec.can_send():
                    if self._closed is not None:
                        raise self._closed
                    if self._slot_freed is None:
                        self._slot_freed = trio.Event()
                    await self._slot_freed.wait()
        finally:
            self._slot_waiters -= 1
        if not codec.can_send():
            raise Timeout(f"{cmd.key}: no free slot to send within {limit:g} s (a previous call is still waiting)")


def raise_for_reply(reply: Reply, profile: Profile, device: str) -> None:
    """A failed reply as the error scripts branch on: 9 when the device refused
    for authorization, 7 for any other error or failed success check."""
    if reply.ok:
        return
    if reply.error is not None:
        # a text device's code comes from a regex group ("-203"), the profile's
        # may be a number (-203): compare as text
        denied = _is_refusal(reply.error, profile)
        cls = NotAuthorized if denied else DeviceError
        code = f" {reply.error.code}" if reply.error.code is not None else ""
        raise cls(f"{device}: {reply.command.key} refused by the device:{code} {reply.error.message}".rstrip())
    raise DeviceError(f"{device}: {reply.command.key} failed: {reply.failed_check}")


def _is_refusal(error: DeviceErrorInfo, profile: Profile) -> bool:
    """The device's error says "not authorized" (exit 9), not "failed" (exit 7).

    By its code: a text device's code comes from a regex group ("-203"), the
    profile's may be a number (-203), so they compare as text.  When the
    profile gives not_authorized the code of another kind too, the code alone
    cannot tell; the message must then begin with not_authorized's.
    """
    errors = profile.framing.errors
    form = errors["not_authorized"]
    if str(error.code) != str(form.code):
        return False
    shared = any(str(other.code) == str(form.code) for kind, other in errors.items() if kind != "not_authorized")
    return not shared or error.message.startswith(form.message)
