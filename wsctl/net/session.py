"""A profile spoken over an open connection: `call` a command, get its reply.

One reader task feeds every inbound message to the sans-I/O `ClientCodec` and
routes what comes out: replies wake the call waiting for them (several calls can
be in flight where the protocol allows; OCPP and lockstep allow one, and further
calls wait for the slot), device requests are answered at once (OCPP
BootNotification, Heartbeat), and telemetry, unmatched and malformed messages go
to `on_event` — never mistaken for a reply.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import trio

from wsctl.core.errors import ConnectionClosed, DeviceError, NotAuthorized, Timeout, WsctlError
from wsctl.core.profile.codec import ClientCodec, DeviceRequest, Outgoing, Reply, bind_params
from wsctl.core.profile.model import Command, Profile

log = logging.getLogger("wsctl.net.session")


class ProfileSession:
    def __init__(self, device: Any, profile: Profile, *, on_event: Callable[[Any], None] | None = None) -> None:
        self.device = device
        self.profile = profile
        self.codec = ClientCodec(profile)
        self.on_event = on_event
        self._waiters: dict[int, tuple[trio.Event, list[Reply]]] = {}
        self._slot_freed = trio.Event()
        self._slot_waiters = 0
        self._closed: WsctlError | None = None

    @property
    def closed_error(self) -> WsctlError:
        """Why the connection ended (after `run` returned)."""
        return self._closed or ConnectionClosed("connection closed")

    def command(self, key: str) -> Command:
        from wsctl.core.errors import InvalidInput

        command = self.profile.command(key)
        if command is None:
            raise InvalidInput(f"unknown command {key!r} for profile {self.profile.id} (commands: {', '.join(self.profile.commands)})")
        return command

    # -- the reader ------------------------------------------------------------
    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Read until the connection closes; then fail every waiting call."""
        task_status.started()
        try:
            while True:
                message = await self.device.receive()
                for item in self.codec.feed(message, now=trio.current_time()):
                    await self._route(item)
        except ConnectionClosed as exc:
            self._closed = exc
        finally:
            if self._closed is None:
                self._closed = ConnectionClosed("connection closed")
            for event, _ in self._waiters.values():
                event.set()
            self._free_slot()

    async def _route(self, item: Any) -> None:
        if isinstance(item, Reply) and item.request is not None and id(item.request) in self._waiters:
            event, box = self._waiters[id(item.request)]
            box.append(item)
            event.set()
            self._free_slot()
            return
        if isinstance(item, DeviceRequest) and item.answer is not None:
            await self.device.send(item.answer)
        if self.on_event is not None:
            self.on_event(item)

    def _free_slot(self) -> None:
        # a fresh Event per freed slot only when a call waits for one (hot path)
        if self._slot_waiters:
            self._slot_freed.set()
            self._slot_freed = trio.Event()

    # -- calls -----------------------------------------------------------------
    async def call(self, command: str | Command, params: dict[str, Any] | None = None, *, raw_params: dict[str, str] | None = None,
                   timeout: float | None = None) -> Reply:
        """Send a command and wait for its reply.

        `params` are Python values, `raw_params` command-line strings; both are
        checked against the command's schema before anything is sent.  Raises
        `Timeout`, `ConnectionClosed`, or returns the `Reply` (check `.ok`).
        """
        cmd = command if isinstance(command, Command) else self.command(command)
        bound = bind_params(cmd, raw_params, from_text=True) if raw_params is not None else bind_params(cmd, params or {}, from_text=False)
        limit = timeout if timeout is not None else cmd.timeout
        deadline = trio.current_time() + limit
        if not self.codec.can_send():
            self._slot_waiters += 1
            try:
                with trio.move_on_at(deadline):
                    while not self.codec.can_send():
                        if self._closed is not None:
                            raise self._closed
                        await self._slot_freed.wait()
            finally:
                self._slot_waiters -= 1
            if not self.codec.can_send():
                raise Timeout(f"{cmd.key}: no free slot to send within {limit:g} s (a previous call is still waiting)")
        if self._closed is not None:
            raise self._closed
        out: Outgoing = self.codec.call(cmd, bound, now=trio.current_time(), timeout=deadline - trio.current_time())
        event, box = trio.Event(), []
        self._waiters[id(out)] = (event, box)
        try:
            await self.device.send(out.wire)
            with trio.move_on_at(deadline):
                await event.wait()
        finally:
            del self._waiters[id(out)]
            if not box:
                self.codec.cancel(out)
                self._free_slot()
        if box:
            return box[0]
        if self._closed is not None:
            raise self._closed
        raise Timeout(f"{cmd.key}: no reply within {limit:g} s")


def raise_for_reply(reply: Reply, profile: Profile, device: str) -> None:
    """A failed reply as the error scripts branch on: 9 when the device refused
    for authorization, 7 for any other error or failed success check."""
    if reply.ok:
        return
    if reply.error is not None:
        # a text device's code comes from a regex group ("-203"), the profile's
        # may be a number (-203): compare as text
        denied = str(reply.error.code) == str(profile.framing.errors["not_authorized"].code)
        cls = NotAuthorized if denied else DeviceError
        code = f" {reply.error.code}" if reply.error.code is not None else ""
        raise cls(f"{device}: {reply.command.key} refused by the device:{code} {reply.error.message}".rstrip())
    raise DeviceError(f"{device}: {reply.command.key} failed: {reply.failed_check}")


def event_buffer(size: int = 1000) -> tuple[Callable[[Any], None], Any]:
    """(push, receive channel): a bounded buffer of session events; when the
    reader of the channel falls behind, the newest events are dropped with a warning."""
    send, receive = trio.open_memory_channel(size)

    def push(item: Any) -> None:
        try:
            send.send_nowait(item)
        except trio.WouldBlock:
            log.warning("event buffer full: dropping %s", type(item).__name__)

    return push, receive
