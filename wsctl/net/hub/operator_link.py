"""One operator connected to a hub, speaking the device's own protocol.

The operator's tool (any wsctl client verb, or another client) sends calls as
it would to the device.  Each is read with the device side of the profile
(`DeviceCodec`: the same parsing and parameter checks a simulated device
applies), authorized against the command's roles, audited, and run through
the device's call slot with the hub's own id; the answer goes back under the
operator's id — the device's error code and words unchanged.  The device's
own messages (status, meter values, boot) are copied to the operator as they
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
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, Timeout, WsctlError
from wsctl.core.profile.device import BadRequest, DeviceCodec, Request, Response
from wsctl.core.profile.events import Reply
from wsctl.core.profile.template import dumps, render, render_text
from wsctl.core.roles import allowed
from wsctl.net.hub.device_link import WATCH_BUFFER, Busy

log = logging.getLogger("wsctl.net.hub")

#: seconds the hub waits for a device beyond the command's own timeout, so the
#: operator's tool (same profile, same timeout) gives up first and exits 6
TIMEOUT_MARGIN = 2.0


def relay_error(codec: DeviceCodec, rid: Any, code: Any, message: str, detail: Any = None) -> str:
    """The protocol's error frame carrying the device's own code and words."""
    context = {"id": rid if rid is not None else "", "code": code, "message": message, "detail": detail or {}}
    if codec.text:
        return render_text(str(codec.framing.error), context).replace("\n", " ")
    context["id"] = rid
    return dumps(render(codec.framing.error, context))


class OperatorLink:
    def __init__(self, hub: Any, conn: Any, device_id: str, operator: str, role: str | None, queue_ttl: float | None):
        self.hub = hub
        self.conn = conn
        self.device_id = device_id
        self.operator = operator
        self.role = role
        self.queue_ttl = queue_ttl
        self.profile = hub.profile_of(device_id)
        self.codec = DeviceCodec(self.profile)
        self._out, self._out_receive = trio.open_memory_channel[str | bytes](WATCH_BUFFER)

    async def run(self) -> None:
        watchers = self.hub.watchers_of(self.device_id)
        watchers.add(self._out)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                try:
                    async for message in self.conn:
                        self._read(message, nursery)
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            watchers.discard(self._out)
            self._out.close()

    async def _writer(self) -> None:
        async for frame in self._out_receive:
            await self.conn.send(frame)

    def _read(self, message: str | bytes, nursery: trio.Nursery) -> None:
        parsed = self.codec.parse(message)
        if isinstance(parsed, Response):
            return  # the operator's tool answering a copied device request
        if isinstance(parsed, BadRequest):
            if parsed.reply is not None:
                self._answer(parsed.reply)
            self.hub.audit(self, parsed.command.key if parsed.command else None, None, "refused", parsed.reason)
            return
        nursery.start_soon(self._call, parsed)

    def _answer(self, frame: str) -> None:
        try:
            self._out.send_nowait(frame)
        except trio.WouldBlock:
            # the operator does not read; its own replies still must not be lost
            self.hub.nursery.start_soon(self._out.send, frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _call(self, request: Request) -> None:
        command = request.command
        try:
            if not allowed(self.role, command.allowed_roles):
                raise _Refused(
                    "not_authorized", f"hub: role {self.role or 'none'} may not run {command.key}", "refused"
                )
            frame = await self._run(request)
        except _Refused as refused:
            frame = self.codec.error(request.id, refused.error_kind, refused.message)
            self.hub.audit(self, command.key, request.params, refused.outcome, refused.message)
        finally:
            self.codec.finish(request.id)
        if frame is not None:
            self._answer(frame)

    async def _run(self, request: Request) -> str | None:
        command = request.command
        link = self.hub.links.get(self.device_id)
        if self.hub.is_pending(self.device_id):
            raise _Refused("device", f"{self.device_id} waits for approval (wsctl hub devices approve)", "refused")
        if link is None:
            if self.queue_ttl:
                return await self._queued(request)
            raise _Refused("device", self.hub.offline_text(self.device_id), "offline")
        timeout = command.timeout + TIMEOUT_MARGIN
        try:
            reply = await link.call(command, request.params, timeout=timeout)
        except Busy as exc:
            raise _Refused("device", exc.message, "busy") from None
        except Timeout:
            raise _Refused(
                "device", f"timeout: {self.device_id} did not answer {command.name} within {timeout:g} s", "timeout"
            ) from None
        except ConnectionClosed:
            # never queued again: the device may have run it before it went
            raise _Refused(
                "device", f"{self.device_id} disconnected before answering {command.name}", "offline"
            ) from None
        return self._reply_frame(request, reply)

    def _reply_frame(self, request: Request, reply: Reply) -> str:
        command = request.command
        if reply.error is not None:
            self.hub.audit(
                self, command.key, request.params, "device-error", f"{reply.error.code} {reply.error.message}"
            )
            return relay_error(self.codec, request.id, reply.error.code, reply.error.message, reply.error.detail)
        self.hub.audit(
            self,
            command.key,
            request.params,
            "ok" if reply.ok else "failed-check",
            reply.failed_check,
            result=reply.payload,
        )
        return self.codec.result(request.id, reply.payload)

    async def _queued(self, request: Request) -> str | None:
        assert self.queue_ttl is not None
        waiter = self.hub.enqueue(self, request, self.queue_ttl)
        with trio.move_on_after(self.queue_ttl + request.command.timeout + TIMEOUT_MARGIN):
            outcome = await waiter.wait()
            if outcome is None:
                raise _Refused("device", f"{self.device_id} did not come back within {self.queue_ttl:g} s", "expired")
            return self._reply_frame(request, outcome) if isinstance(outcome, Reply) else None
        raise _Refused("device", f"{self.device_id} did not come back within {self.queue_ttl:g} s", "expired")


class _Refused(WsctlError):
    def __init__(self, kind: str, message: str, outcome: str) -> None:
        super().__init__(message)
        self.error_kind = kind
        self.outcome = outcome
