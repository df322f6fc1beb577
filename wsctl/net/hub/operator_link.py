"""One operator connected to a hub, speaking the device's own protocol.

The operator's tool (any wsctl client verb, or another client) sends calls as
it would to the device.  Each is read with the device side of the profile
(`DeviceCodec`: the same parsing and parameter checks a simulated device
applies) and run by `wsctl.net.hub.calls.execute` — authorized by role,
serialised per device, audited — on this hub, or on the hub that holds the
device when the hubs are federated; the outcome is answered under the
operator's id, the device's error code and words unchanged.  The device's own
messages (status, meter values, boot) are copied to the operator as they
arrive; the operator's answers to those copies are dropped (the hub already
answered the device).

A device that is offline: with ``Wsctl-Queue: SECONDS`` in the upgrade the
call waits in the registry and is delivered when the device comes back (the
answer reaches the operator if it is still connected, the audit log either
way); without it the call gets the protocol's error naming since when the
device is offline.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import trio

from wsctl.core.hub.outcome import CallOutcome
from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request, Response
from wsctl.core.profile.template import dumps, render, render_text
from wsctl.net.hub.calls import Caller
from wsctl.net.hub.device_link import WATCH_BUFFER

log = logging.getLogger("wsctl.net.hub")

#: the operator's own answers held beyond its channel, at most: an operator
#: that reads none of them is closed (1008) rather than held in memory
MAX_UNSENT_ANSWERS = 64


def relay_error(codec: DeviceCodec, rid: Any, code: Any, message: str, detail: Any = None) -> str:
    """The protocol's error frame carrying the device's own code and words."""
    context = {"id": rid if rid is not None else "", "code": code, "message": message, "detail": detail or {}}
    if codec.text:
        return render_text(str(codec.framing.error), context).replace("\n", " ")
    context["id"] = rid
    return dumps(render(codec.framing.error, context))


def answer_frame(codec: DeviceCodec, rid: Any, outcome: CallOutcome) -> str:
    """The operator's answer to one call, in the device's protocol."""
    if outcome.outcome in ("ok", "failed-check"):
        return codec.result(rid, outcome.payload)
    if outcome.outcome == "device-error":
        return relay_error(codec, rid, outcome.code, outcome.message or "", outcome.detail)
    return codec.error(rid, outcome.error_kind or "device", outcome.message)


class OperatorLink:
    def __init__(self, hub: Any, conn: Any, caller: Caller):
        self.hub = hub
        self.conn = conn
        self.caller = caller
        self.device_id = caller.device_id
        self.operator = caller.operator
        self.role = caller.role
        self.profile = hub.profile_of(caller.device_id)
        self.codec = DeviceCodec(self.profile)
        self._out, self._out_receive = trio.open_memory_channel[str | bytes](WATCH_BUFFER)
        #: answers that found the channel full (the operator is slow): sent by the writer in
        #: the order they came, ahead of what the channel still holds (each answer carries
        #: its call's id, so an operator's tool matches them whatever their order)
        self._unsent: deque[str] = deque()
        self._scope: trio.CancelScope | None = None
        self._not_reading = False

    async def run(self) -> None:
        self.hub.watchers_of(self.device_id).add(self._out)
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                nursery.start_soon(self._writer)
                try:
                    async for message in self.conn:
                        self._read(message, nursery)
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self.hub.unwatch(self.device_id, self._out)
            self._out.close()
        if self._not_reading:
            await self.conn.close(1008, "not reading its answers")

    async def _writer(self) -> None:
        async for frame in self._out_receive:
            await self.conn.send(frame)
            while self._unsent:
                await self.conn.send(self._unsent.popleft())

    def _read(self, message: str | bytes, nursery: trio.Nursery) -> None:
        parsed = self.codec.parse(message)
        if isinstance(parsed, Response):
            return  # the operator's tool answering a copied device request
        if isinstance(parsed, BadRequest):
            if parsed.reply is not None:
                self._answer(parsed.reply)
            key = parsed.command.key if parsed.command else "?"
            self.hub.audit_call(self.caller, key, None, "refused", parsed.reason)
            return
        nursery.start_soon(self._call, parsed)

    def _answer(self, frame: str) -> None:
        """Queue one of the operator's own answers.  They must not be dropped
        like the copies of device messages, nor held without bound, nor sent
        by a task that outlives this link (its channel closes with it)."""
        try:
            self._out.send_nowait(frame)
        except trio.WouldBlock:
            # the channel is full, so the writer is busy: it sends these after its current frame
            if len(self._unsent) < MAX_UNSENT_ANSWERS:
                self._unsent.append(frame)
            elif not self._not_reading and self._scope is not None:
                self._not_reading = True
                log.warning(
                    "%s: operator %s reads none of its answers (%d unsent): closing it",
                    self.device_id, self.operator, len(self._unsent),
                )  # fmt: skip
                self._scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _call(self, request: Request) -> None:
        try:
            outcome = await self.hub.call(self.caller, request.command, request.params)
        finally:
            self.codec.finish(request.id)
        self._answer(answer_frame(self.codec, request.id, outcome))
