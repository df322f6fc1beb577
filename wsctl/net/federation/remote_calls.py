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

#: other hubs' calls running at once on this hub; more are answered "busy"
MAX_RUNNING = 512
#: plant tools' commands running at once, apart from the hubs' calls (a tool
#: with slow devices must not make the operators on other hubs "busy")
MAX_COMMANDS = 64
#: seconds between two warnings about plant tools' commands refused for their response topic
REFUSAL_LOG_EVERY = 10.0
#: seconds before a queued command that the holding hub did not run ("busy") is forwarded again
BUSY_RETRY = 5.0
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
        #: other hubs' calls, and plant tools' commands, running now
        self._running = 0
        self._commands = 0
        #: plant tools' commands refused for their response topic, and how many of them a warning told of
        self.bad_reply_topics = 0
        self._bad_told = 0
        self._bad_logged = float("-inf")
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
        # answered where the calling hub listens, whatever response topic the call names
        reply_to = self.fed.tree.reply(self._me, from_hub)
        key = (from_hub, item.correlation) if item.correlation else None
        if key is not None:
            self._forget(trio.current_time())
            ran = self._ran.get(key)
            if ran is not None:
                log.info("hub %s repeated a call (%s): answered from memory", from_hub, item.topic)
                self.fed.nursery.start_soon(self._answer_repeat, reply_to, item.correlation, ran)
                return
            self._ran[key] = _Ran(trio.current_time())
        self._start(item, reply_to, operator_default=f"hub:{from_hub}", role=None, trust_role=True, key=key)

    def _forget(self, now: float) -> None:
        while self._ran:
            key, oldest = next(iter(self._ran.items()))
            if len(self._ran) < MAX_REMEMBERED and now - oldest.at < REMEMBER:
                return
            if not oldest.done.is_set() and len(self._ran) < MAX_REMEMBERED:
                return  # still running: a repeat must wait for it, not run it again
            del self._ran[key]

    async def _answer_repeat(self, reply_to: str, correlation: bytes | None, ran: _Ran) -> None:
        with trio.move_on_after(REMEMBER):
            await ran.done.wait()
        if ran.outcome is not None:
            self._answer(reply_to, correlation, ran.outcome, to_hub=True)

    def incoming_command(self, item: Incoming, device_id: str) -> None:
        """A plant tool's command for a device this hub holds: MQTT does not
        say who published it, so it carries ``--mqtt-command-role`` or is
        refused.  Answered only on a response topic under ``replies/``
        (`topics.Tree.is_reply_topic`): the hub writes it with its own rights,
        which reach presence, telemetry and its own state; with any other
        response topic it is neither run nor answered (audited, and warned of)."""
        reply_to = item.response_topic or None
        if reply_to is not None and not self.fed.tree.is_reply_topic(reply_to):
            self._refuse_reply_topic(item, device_id, reply_to)
            return
        self._start(
            item,
            reply_to,
            operator_default="mqtt:anonymous",
            role=self.command_role,
            trust_role=False,
            device=device_id,
        )

    def _refuse_reply_topic(self, item: Incoming, device_id: str, reply_to: str) -> None:
        why = (
            f"hub {self._me}: its response topic is not under {self.fed.tree.base}/replies/ (at most "
            f"{topics.MAX_REPLY_LEVELS} levels, each by the device id rule): not run, not answered"
        )
        try:
            request = topics.parse_call(topics.decode(item.payload), device_id)
            operator, command = f"mqtt:{request.operator or 'anonymous'}", request.command[:128]
        except InvalidInput:
            operator, command = "mqtt:anonymous", "?"
        hub = self.fed.hub
        shown = reply_to[:200]
        hub.registry.audit(
            at=hub.wall(), actor=operator, role=None, device=device_id, action=command, params=None,
            outcome="refused", detail=f"{why} ({shown!r})",
        )  # fmt: skip
        # a tool that floods such commands costs a warning every REFUSAL_LOG_EVERY seconds, not one each
        self.bad_reply_topics += 1
        now = trio.current_time()
        if now - self._bad_logged >= REFUSAL_LOG_EVERY:
            log.warning(
                "%s: %d command(s) refused (%d since start), the last with response topic %r: %s",
                item.topic, self.bad_reply_topics - self._bad_told, self.bad_reply_topics, shown, why,
            )  # fmt: skip
            self._bad_logged, self._bad_told = now, self.bad_reply_topics

    def _start(
        self,
        item: Incoming,
        reply_to: str | None,
        *,
        operator_default: str,
        role: str | None,
        trust_role: bool,
        device: str | None = None,
        key: tuple[str, bytes] | None = None,
    ) -> None:
        """``reply_to``: where the outcome goes (None: nowhere); ``device``:
        the device of a plant tool's command (None: a hub's call); ``key``:
        where the outcome is remembered (calls from hubs)."""
        running, limit = (self._commands, MAX_COMMANDS) if device is not None else (self._running, MAX_RUNNING)
        if running >= limit:
            what = "plant tools' commands" if device is not None else "calls from other hubs"
            busy = refused("device", f"hub {self._me}: {running} {what} already run", "busy")
            if key is not None:
                del self._ran[key]  # not run: a repeat may run
            self._answer(reply_to, item.correlation, busy, to_hub=device is None)
            return
        if device is not None:
            self._commands += 1
        else:
            self._running += 1
        self.fed.nursery.start_soon(self._run, item, reply_to, operator_default, role, trust_role, device, key)

    async def _run(
        self,
        item: Incoming,
        reply_to: str | None,
        operator_default: str,
        role: str | None,
        trust_role: bool,
        device: str | None,
        key: tuple[str, bytes] | None = None,
    ) -> None:
        outcome: CallOutcome | None = None
        try:
            try:
                outcome = await self._outcome(item, operator_default, role, trust_role, device)
            except WsctlError as exc:  # e.g. a device registered with a profile this hub cannot load
                outcome = refused("device", f"hub {self._me}: {exc.message}")
            self._answer(reply_to, item.correlation, outcome, to_hub=device is None)
        finally:
            if device is not None:
                self._commands -= 1
            else:
                self._running -= 1
            self._remember(key, outcome)

    def _remember(self, key: tuple[str, bytes] | None, outcome: CallOutcome | None) -> None:
        ran = self._ran.get(key) if key is not None else None
        if ran is None:
            return
        ran.outcome = outcome  # for the repeats already waiting
        if outcome is None or outcome.detail == NOT_HERE or outcome.outcome == "busy":
            # not run (cancelled, the device is not here, or busy): a later repeat may run it
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

    def _answer(self, reply_to: str | None, correlation: bytes | None, outcome: CallOutcome, *, to_hub: bool) -> None:
        """QoS 0 to a hub (see the module's doc), 1 to a plant tool (its own
        client may resend; a second copy of a reply harms nobody)."""
        if reply_to is None:
            return
        data = topics.encode({"v": topics.PAYLOAD_VERSION, "hub": self._me, **outcome.as_dict()})
        if to_hub and len(data) > topics.MAX_PAYLOAD:  # the calling hub would not read it: say so instead
            why = f"hub {self._me}: it ran, but its answer of {len(data)} bytes is more than the {topics.MAX_PAYLOAD} a hub reads"
            data = topics.encode({"v": topics.PAYLOAD_VERSION, "hub": self._me, **refused("device", why).as_dict()})
        self.fed.link.publish(reply_to, data, qos=0 if to_hub else 1, correlation=correlation)

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
        busy = False
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
            if outcome.outcome == "busy":
                busy = True  # not run either: queued, and forwarded again after a pause
                return
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
            if busy:
                self.fed.nursery.start_soon(self._forward_later, queued.device)

    async def _forward_later(self, device_id: str) -> None:
        """Forward again what is still due for the device, where presence puts it
        then (until each command expires: `forward_queued` takes only due ones)."""
        await trio.sleep(BUSY_RETRY)
        holder = self.fed.holder(device_id)
        if holder is not None:
            self.forward_queued(device_id, holder)
