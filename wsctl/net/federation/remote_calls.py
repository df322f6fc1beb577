"""Calls across the broker: this hub's operators' calls for devices other
hubs hold, other hubs' calls for devices this hub holds, the plant tools'
commands, and queued commands forwarded to the hub a device turned up on.

A call is one QoS 0 message with an MQTT 5 response topic and correlation
data; the answer is the `CallOutcome` of the hub that ran it, as JSON, QoS 0
too.  At most once on purpose: QoS 1 would resend a call whose PUBACK was
lost in a reconnect (a Reset run twice), and would queue a call made while
the broker is away and deliver it after the operator gave up; QoS 0 is never
sent late and never twice, a call that cannot go out fails at once, and it
saves a PUBACK each way (docs/design.md, "Federation").  The
caller's wait is bounded twice: by the command's timeout plus the margins of
both hubs (the operator's tool has given up before), and by the other hub's
state — its Last Will ends every call in flight to it at once, as "offline"
with the words that it may have run (a Reset is not sent twice).

Idempotent at the hub that runs a call: it remembers, for `REMEMBER`
seconds (at most `MAX_REMEMBERED` calls), the correlation data of the calls
other hubs sent it and their outcomes, and answers a call it has seen with
the remembered reply (or, still running, with the reply when it comes),
never running it again.  That matters for a queued command: the forwarding
hub can die after this hub ran it and before it recorded it; back, it
forwards it again with the same correlation data (derived from the queued
command, `queued_correlation`), and gets the first outcome instead of a
second Reset.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import trio

from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.hub import topics
from wsctl.core.hub.outcome import CallOutcome, refused
from wsctl.net.federation.mqtt import Incoming
from wsctl.net.hub.calls import TIMEOUT_MARGIN, Caller

log = logging.getLogger("wsctl.net.federation")

#: calls from the broker running at once on this hub; more are answered "busy"
MAX_RUNNING = 512
#: timeout of a call that names none (a plant tool's), seconds
DEFAULT_TIMEOUT = 30.0
#: ``detail`` of an "offline" outcome for a device that is not on the hub the
#: call went to (presence was stale): nothing ran, so a queued command stays queued
NOT_HERE = "not on this hub: not run"
#: how long a hub remembers a call it ran for another hub (a repeat is answered from memory)
REMEMBER = 600.0
#: most calls remembered at once; the oldest are forgotten first
MAX_REMEMBERED = 20000


def queued_correlation(hub_id: str, queued: Any) -> bytes:
    """The same for every forward of one queued command (its hub, id, and
    creation time: a registry made anew reuses ids), so the hub that ran
    it once recognises the repeat."""
    return f"q:{hub_id}:{queued.id}:{queued.created!r}".encode()


@dataclass
class _Ran:
    """A call run (or running) for another hub: what a repeat is answered with."""

    at: float
    done: trio.Event = field(default_factory=trio.Event)
    outcome: CallOutcome | None = None


@dataclass
class _Pending:
    target: str
    device: str
    command: str
    done: trio.Event = field(default_factory=trio.Event)
    outcome: CallOutcome | None = None

    def finish(self, outcome: CallOutcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


class RemoteCalls:
    def __init__(self, federation: Any, command_role: str | None) -> None:
        self.fed = federation
        self.command_role = command_role
        self._pending: dict[bytes, _Pending] = {}
        self._running = 0
        #: (calling hub, correlation data) -> the call run for it, oldest first
        self._ran: OrderedDict[tuple[str, bytes], _Ran] = OrderedDict()

    @property
    def _me(self) -> str:
        return str(self.fed.hub_id)

    # -- out: this hub asks another ------------------------------------------------
    async def call(
        self,
        target: str,
        device_id: str,
        *,
        operator: str,
        role: str | None,
        command: str,
        params: dict[str, Any],
        timeout: float,
    ) -> CallOutcome:
        outcome = await self._call(target, device_id, operator, role, command, params, timeout)
        if outcome is None:
            return refused("device", f"{device_id} is on hub {target}, but the broker is unreachable", "offline")
        return outcome

    async def _call(
        self,
        target: str,
        device_id: str,
        operator: str,
        role: str | None,
        command: str,
        params: dict[str, Any],
        timeout: float,
        correlation: bytes | None = None,
    ) -> CallOutcome | None:
        """The other hub's outcome; None when the call could not even be sent.
        ``correlation``: fixed for a call that may be sent again (a queued
        command), else fresh."""
        fed = self.fed
        correlation = correlation or secrets.token_bytes(16)
        if correlation in self._pending:
            return None  # the same queued command is being forwarded already
        pending = self._pending[correlation] = _Pending(target, device_id, command)
        body = topics.call_request(
            device_id, operator=operator, role=role, command=command, params=params, timeout=timeout
        )
        try:
            sent = fed.link.publish(
                fed.tree.call(self._me, target),
                topics.encode(body),
                qos=0,
                response_topic=fed.tree.reply(target, self._me),
                correlation=correlation,
            )
            if not sent:
                return None
            wait = timeout + 2 * TIMEOUT_MARGIN
            with trio.move_on_after(wait):
                await pending.done.wait()
            if pending.outcome is None:
                return refused(
                    "device",
                    f"timeout: hub {target} did not answer {command} on {device_id} within {wait:g} s",
                    "timeout",
                )
            return pending.outcome
        finally:
            del self._pending[correlation]

    def incoming_reply(self, item: Incoming, *, from_hub: str) -> None:
        pending = self._pending.get(item.correlation or b"")
        if pending is None or pending.target != from_hub:
            return  # late (the caller gave up), or not ours
        try:
            doc: Any = topics.decode(item.payload)
        except InvalidInput:
            doc = None
        pending.finish(CallOutcome.from_dict(doc))

    def hub_lost(self, hub_id: str) -> None:
        """Every call in flight to a hub that died ends now."""
        for pending in list(self._pending.values()):
            if pending.target == hub_id:
                pending.finish(
                    refused(
                        "device",
                        f"hub {hub_id} went offline before {pending.device} answered {pending.command} "
                        "(it may have run)",
                        "offline",
                    )
                )

    # -- in: another hub, or a plant tool, asks this one -----------------------------
    def incoming_call(self, item: Incoming, *, from_hub: str) -> None:
        """A call from another hub: its operator and role are that hub's word
        (only hubs may publish there: the broker's ACL); the command, its
        parameters and the role are checked here again (`Hub.call_for_peer`).
        A call seen before (same hub, same correlation data) is answered
        with its first outcome, never run again."""
        key = (from_hub, item.correlation) if item.correlation else None
        if key is not None:
            self._forget(trio.current_time())
            ran = self._ran.get(key)
            if ran is not None:
                log.info("hub %s repeated a call (%s): answered from memory", from_hub, item.topic)
                self.fed.nursery.start_soon(self._answer_repeat, item, ran)
                return
            self._ran[key] = _Ran(trio.current_time())
        self._start(item, operator_default=f"hub:{from_hub}", role=None, trust_role=True, reply_qos=0, key=key)

    def _forget(self, now: float) -> None:
        while self._ran:
            key, oldest = next(iter(self._ran.items()))
            if len(self._ran) < MAX_REMEMBERED and now - oldest.at < REMEMBER:
                return
            if not oldest.done.is_set() and len(self._ran) < MAX_REMEMBERED:
                return  # still running: a repeat must wait for it, not run it again
            del self._ran[key]

    async def _answer_repeat(self, item: Incoming, ran: _Ran) -> None:
        with trio.move_on_after(REMEMBER):
            await ran.done.wait()
        if ran.outcome is not None:
            self._answer(item, ran.outcome, 0)

    def incoming_command(self, item: Incoming, device_id: str) -> None:
        """A plant tool's command for a device this hub holds: MQTT does not
        say who published it, so it carries ``--mqtt-command-role`` or is refused."""
        self._start(
            item,
            operator_default="mqtt:anonymous",
            role=self.command_role,
            trust_role=False,
            device=device_id,
            reply_qos=1,
        )

    def _start(
        self,
        item: Incoming,
        *,
        operator_default: str,
        role: str | None,
        trust_role: bool,
        reply_qos: int,
        device: str | None = None,
        key: tuple[str, bytes] | None = None,
    ) -> None:
        """``reply_qos``: 0 to a hub (see the module's doc), 1 to a plant tool
        (its own client may resend; a second copy of a reply harms nobody).
        ``key``: where the outcome is remembered (calls from hubs)."""
        if self._running >= MAX_RUNNING:
            busy = refused("device", f"hub {self._me}: {self._running} calls from the broker already run", "busy")
            if key is not None:
                del self._ran[key]  # not run: a repeat may run
            self._answer(item, busy, reply_qos)
            return
        self._running += 1
        self.fed.nursery.start_soon(self._run, item, operator_default, role, trust_role, device, reply_qos, key)

    async def _run(
        self,
        item: Incoming,
        operator_default: str,
        role: str | None,
        trust_role: bool,
        device: str | None,
        reply_qos: int,
        key: tuple[str, bytes] | None = None,
    ) -> None:
        outcome: CallOutcome | None = None
        try:
            try:
                outcome = await self._outcome(item, operator_default, role, trust_role, device)
            except WsctlError as exc:  # e.g. a device registered with a profile this hub cannot load
                outcome = refused("device", f"hub {self._me}: {exc.message}")
            self._answer(item, outcome, reply_qos)
        finally:
            self._running -= 1
            self._remember(key, outcome)

    def _remember(self, key: tuple[str, bytes] | None, outcome: CallOutcome | None) -> None:
        ran = self._ran.get(key) if key is not None else None
        if ran is None:
            return
        ran.outcome = outcome  # for the repeats already waiting
        if outcome is None or outcome.detail == NOT_HERE:
            # not run (cancelled, or the device is not here): a later repeat may run it
            del self._ran[key]  # type: ignore[arg-type]
        ran.done.set()

    async def _outcome(
        self, item: Incoming, operator_default: str, role: str | None, trust_role: bool, device: str | None
    ) -> CallOutcome:
        hub = self.fed.hub
        try:
            request = topics.parse_call(topics.decode(item.payload), device)
        except InvalidInput as exc:
            log.warning("%s: refused: %s", item.topic, exc.message)
            return refused("device", f"hub {self._me}: {exc.message}")
        if trust_role:
            operator, role = request.operator or operator_default, request.role
        else:
            operator = f"mqtt:{request.operator}" if request.operator else operator_default
            if role is None:
                why = (
                    f"hub {self._me}: commands from MQTT clients are refused (the hub runs without --mqtt-command-role)"
                )
                hub.audit_call(Caller(operator, None, request.device), request.command, None, "refused", why)
                return refused("not_authorized", why)
        if request.device not in hub.links:
            return CallOutcome(
                "offline", message=f"hub {self._me}: {request.device} is not connected here", error_kind="device",
                detail=NOT_HERE,
            )  # fmt: skip
        return await hub.call_for_peer(
            request.device, operator=operator, role=role, command=request.command, params=request.params
        )

    def _answer(self, item: Incoming, outcome: CallOutcome, qos: int) -> None:
        if not item.response_topic:
            return
        doc = {"v": topics.PAYLOAD_VERSION, "hub": self._me, **outcome.as_dict()}
        self.fed.link.publish(item.response_topic, topics.encode(doc), qos=qos, correlation=item.correlation)

    # -- queued commands -----------------------------------------------------------
    def forward_queued(self, device_id: str, target: str) -> None:
        """The device is on ``target`` now: the commands this hub queued for
        it go there, each unless a delivery has it already (this hub's own,
        to the device connected here too, or an earlier forward): a charger
        whose old connection is not yet seen dead is on two hubs at once."""
        hub = self.fed.hub
        for queued in hub.registry.due(device_id, at=hub.wall()):
            if hub.claim_queued(queued.id):
                self.fed.nursery.start_soon(self._forward, queued, target)

    async def _forward(self, queued: Any, target: str) -> None:
        hub = self.fed.hub
        try:
            try:
                command = hub.profile_of(queued.device).command(queued.command)
            except WsctlError as exc:
                log.warning("%s: queued %s not forwarded: %s", queued.device, queued.command, exc.message)
                return
            timeout = command.timeout if command is not None else DEFAULT_TIMEOUT
            outcome = await self._call(
                target,
                queued.device,
                queued.operator,
                queued.role,
                queued.command,
                queued.params,
                timeout,
                correlation=queued_correlation(self._me, queued),
            )
            if outcome is None or outcome.detail == NOT_HERE:
                return  # never sent, or not run (it moved on): queued for the device's next appearance
            done = "delivered" if outcome.outcome == "ok" else "failed"
            result = outcome.payload if outcome.outcome == "ok" else outcome.message
            hub.registry.finish(queued.id, at=hub.wall(), outcome=done, result=result)
            hub.registry.audit(
                at=hub.wall(),
                actor=queued.operator,
                role=queued.role,
                device=queued.device,
                action=queued.command,
                params=queued.params,
                outcome=done,
                detail=f"queued command {queued.id} forwarded to hub {target}: {outcome.outcome}",
            )
            hub.queued_done(queued.id, outcome)
        finally:
            hub.release_queued(queued.id)
