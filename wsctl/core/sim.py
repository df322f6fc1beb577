"""The simulated device's behaviour, sans-I/O: state, effects, telemetry, faults.

`Sim(profile, rng=, now=)` holds the device state (initially `[sim.state]`).
The caller owns I/O, time and randomness: it passes `now` (wall-clock epoch
seconds; templates see it as `{{now}}` in ISO 8601) and a seeded
`random.Random`, so every run of a test is the same run.

`handle(request, role, now)` decides what one checked request does, in this
order, and returns actions for the caller to carry out in order:

  1. authorization: the caller's role (from its certificate) must be in the
     command's `roles`, else the protocol's not_authorized error;
  2. `require`: state preconditions (a value, or a list of allowed values),
     else the protocol's device error with `require_message` -- or, with
     `require_reply`, that result (OCPP's {"status": "Rejected"}: a refusal
     is a business answer, not a protocol error); no effects either way;
  3. error fault (`error_reply_probability`): a device error, no effects;
  4. `set`: templates rendered against the state *before* the command, then
     applied together;
  5. `reply`: rendered against the state *after* it (a status reply shows the
     new state), with {params, state, now, id, name};
  6. drop fault (`drop_reply_probability`): the command took effect but its
     reply is lost, as on a flaky link;
  7. `then` steps: `emit:EVENT`, `close`.

A command of the profile without a `[sim.commands.X]` section succeeds with an
empty result: `{}` in JSON, `OK` in text.  Delays: `faults.reply_delay` plus
the command's own `delay`.

Actions: `Audit` (always first: what the audit log records), `Reply`, `Drop`,
`Emit`, `Close`.  An `Emit` carries the wire form when the protocol has
notifications; otherwise (OCPP, JSON-RPC device requests) `wire` is None and
the connection frames it as a device call with its own `DeviceCodec`, which
keeps OCPP's one outstanding call per direction per peer.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, replace
from typing import Any

from wsctl.core import roles
from wsctl.core.errors import UsageError
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.profile import statepath
from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request
from wsctl.core.profile.format import MAX_TIMEOUT
from wsctl.core.profile.model import Event, Faults, Profile, SimCommand, SimList, SimTelemetry, Update
from wsctl.core.profile.model import Sim as SimSpec
from wsctl.core.profile.template import iso_time, render, render_text

# ----------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Reply:
    wire: str
    delay: float = 0.0
    #: the request this answers; the connection frees the id once it is sent
    request_id: Any = None


@dataclass(frozen=True)
class Drop:
    """A reply deliberately not sent (fault); the id is free after `delay`."""

    request_id: Any = None
    delay: float = 0.0


@dataclass(frozen=True)
class Emit:
    event: Event
    payload: Any
    #: ready to send to every peer, or None: send as a device call (per peer)
    wire: str | None = None


@dataclass(frozen=True)
class Close:
    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class Audit:
    """One audit record's decision part; the connection adds time and peer."""

    command: str | None
    params: dict[str, Any] | None
    result: str  # ok | denied | rejected | error | invalid
    detail: str | None = None
    id: Any = None


@dataclass(frozen=True)
class Certificates:
    """A certificate operation of the station (`[sim.certificates]`) for the
    caller to carry out: core holds no key and checks no chain.  ``op``: "csr"
    (make a key and send a CSR), or a command's: "signed", "install", "list",
    "delete"; the caller answers a command with `Sim.certificate_answer`."""

    op: str
    command: str | None = None
    params: dict[str, Any] | None = None
    request_id: Any = None
    delay: float = 0.0


Action = Reply | Drop | Emit | Close | Audit | Certificates

# ----------------------------------------------------------------------------- the machine

_EMPTY_SPEC = SimSpec(state={}, commands={}, telemetry=(), faults=Faults(), on_connect=())


class Sim:
    def __init__(
        self,
        profile: Profile,
        *,
        rng: random.Random,
        now: float,
        faults: Faults | None = None,
        interval_scale: float = 1.0,
    ) -> None:
        if interval_scale <= 0:
            raise ValueError("interval_scale must be positive")
        self.profile = profile
        self.spec = profile.sim or _EMPTY_SPEC
        self.rng = rng
        self.faults = faults if faults is not None else self.spec.faults
        self.interval_scale = interval_scale
        # deep: commands write into nested tables (configuration keys), never into the profile
        self.state: dict[str, Any] = copy.deepcopy(self.spec.state)
        #: encoders only; ids in progress are tracked per connection
        self.codec = DeviceCodec(profile)
        #: each entry's period now (`every`, or read from the state by `every_from`)
        self._period = [self._period_of(t) for t in self.spec.telemetry]
        # period 0: emitted only by `emit:` steps, never on a timer
        self._next = [now + p * interval_scale if p > 0 else math.inf for p in self._period]

    # -- requests --------------------------------------------------------------
    def handle(self, request: Request, role: str | None, now: float) -> list[Action]:
        command, rid, params = request.command, request.id, request.params
        codec = self.codec
        if not roles.allowed(role, command.allowed_roles):
            allowed = ", ".join(sorted(command.allowed_roles))
            detail = f"role {role or '(none: no role in the client certificate)'} may not run {command.key} (allowed: {allowed})"
            return [
                Audit(command.key, params, "denied", detail, rid),
                Reply(codec.error(rid, "not_authorized", detail), 0.0, rid),
            ]
        spec = self.spec.commands.get(command.key)
        delay = self.faults.reply_delay + (spec.delay if spec else 0.0)
        certificates = self.spec.certificates
        if certificates is not None and command.key in certificates.commands:
            return [Certificates(certificates.commands[command.key], command.key, params, rid, delay)]
        context = {
            "params": params,
            "state": self.state,
            "now": iso_time(now),
            "ts": _ts(now),
            "id": rid,
            "name": command.name,
        }
        refused = self._refusal(spec, context, delay, rid) if spec is not None else None
        if refused is not None:
            return refused
        if self._roll(self.faults.error_reply_probability):
            detail = "injected fault (error_reply_probability)"
            return [
                Audit(command.key, params, "error", detail, rid),
                Reply(codec.error(rid, "device", detail), delay, rid),
            ]
        if spec is not None:
            self._apply(spec.set, context, now)
            payload = render(spec.reply, {**context, "state": self.state}, strict=False)
            for spec_list in spec.lists:
                payload[spec_list.field] = self._list(spec_list, context, payload, now)
        else:
            payload = "OK" if codec.text else {}
        actions: list[Action] = []
        if self._roll(self.faults.drop_reply_probability):
            actions += [
                Audit(command.key, params, "ok", "reply dropped (drop_reply_probability)", rid),
                Drop(rid, delay),
            ]
        else:
            actions += [Audit(command.key, params, "ok", None, rid), Reply(codec.result(rid, payload), delay, rid)]
        actions += self.steps(spec.then if spec else (), now, context)
        return actions

    def _refusal(self, spec: SimCommand, context: dict[str, Any], delay: float, rid: Any) -> list[Action] | None:
        """The first failing precondition's answer (no effects), or None when all hold."""
        first = ((spec.require, spec.require_message, spec.require_reply),) if spec.require else ()
        checks = first + tuple((c.require, c.message, c.reply) for c in spec.checks)
        for require, message_template, reply in checks:
            if self._holds(require, context):
                continue
            message = render_text(message_template, context, strict=False)
            command, params = spec.key, context["params"]
            if reply is not None:
                payload = render(reply, context, strict=False)
                return [
                    Audit(command, params, "rejected", message, rid),
                    Reply(self.codec.result(rid, payload), delay, rid),
                ]
            return [
                Audit(command, params, "error", message, rid),
                Reply(self.codec.error(rid, "device", message), delay, rid),
            ]
        return None

    def _holds(self, require: tuple[tuple[str, Any], ...], context: dict[str, Any]) -> bool:
        for path, wanted in require:
            if isinstance(wanted, str) and "{{" in wanted:
                wanted = render(wanted, context, strict=False)  # the parameter's value: "the running one"
            have = statepath.get(self.state, statepath.resolve(statepath.split(path), context))
            if not (have in wanted if isinstance(wanted, list) else _same(have, wanted)):
                return False
        return True

    def _apply(self, sets: tuple[tuple[str, Any], ...], context: dict[str, Any], now: float) -> None:
        """`set` templates rendered against the state before the change, then applied together."""
        updates = []
        for path, template in sets:
            value = render(template, context, strict=False)
            if value is not MISSING:
                updates.append((statepath.resolve(statepath.split(path), context), value))
        for parts, value in updates:
            statepath.put(self.state, parts, value)
        if updates:
            self._reschedule(now)

    def _list(self, spec: SimList, context: dict[str, Any], reply: Any, now: float) -> list[Any]:
        """One item per state-table entry, or per requested name (unknown ones as the profile says)."""
        table = statepath.get(self.state, statepath.split(spec.state))
        table = table if isinstance(table, dict) else {}
        requested = context["params"].get(spec.names) if spec.names else None
        if not isinstance(requested, list) or not requested:
            requested = None
        wanted = [(None, key) for key in _names(table)] if requested is None else [(r, None) for r in requested]
        items, unknown = [], []
        for request, key in wanted:
            if key is None:
                key = request if spec.name is None else render_text(str(spec.name), {"request": request}, strict=False)
            entry = statepath.get(table, tuple(str(key).split(".")))
            local = {**context, "state": self.state, "key": key, "request": request, "item": entry}
            if entry is MISSING or isinstance(entry, dict) and not _is_entry(entry):
                unknown.append(key)
                if spec.unknown_item is not None:
                    items.append(render(spec.unknown_item, local, strict=False))
                continue
            if spec.write:
                if not isinstance(entry, dict) or not all(_same(entry.get(k, MISSING), v) for k, v in spec.write_when):
                    items.append(render(spec.refused_item or spec.item, local, strict=False))
                    continue
                entry.update({k: render(t, local, strict=False) for k, t in spec.write})
                self._reschedule(now)
            items.append(render(spec.item, local, strict=False))
        if spec.unknown is not None and isinstance(reply, dict):
            reply[spec.unknown] = unknown
        return items

    def reject(self, bad: BadRequest) -> list[Action]:
        """A request the codec refused: audit it, answer with its error form."""
        actions: list[Action] = [Audit(bad.command.key if bad.command else None, None, "invalid", bad.reason, bad.id)]
        if bad.reply is not None:
            actions.append(Reply(bad.reply, 0.0, None))  # None: a colliding id stays in progress
        return actions

    def _roll(self, probability: float) -> bool:
        # no draw at 0 so that switching a fault off does not shift other draws
        return probability > 0 and self.rng.random() < probability

    # -- the answers to the device's own calls ---------------------------------------
    def answered(self, event: Event, payload: Any, ok: bool, now: float) -> list[Action]:
        """The central system answered the device's `event` call: the first
        `[sim.responses.EVENT]` case whose `when` matches sets state and runs its steps."""
        for case in self.spec.responses.get(event.key, ()):
            if all(_matches(payload, pointer, wanted) for pointer, wanted in case.when):
                context = {"payload": payload, "state": self.state, "now": iso_time(now), "ts": _ts(now), "ok": ok}
                self._apply(case.set, context, now)
                return self.steps(case.then, now)
        return []

    # -- steps and events -----------------------------------------------------------
    def on_connect(self, now: float) -> list[Action]:
        self._apply(self.spec.on_connect_set, {"state": self.state, "now": iso_time(now)}, now)
        return self.steps(self.spec.on_connect, now)

    def steps(self, steps: tuple[str, ...], now: float, context: dict[str, Any] | None = None) -> list[Action]:
        out: list[Action] = []
        for step in steps:
            verb, _, arg = step.partition(":")
            if verb == "emit":
                named = render_text(arg, context or {}, strict=False) if "{{" in arg else arg
                if self.spec.certificates is not None and named in self.spec.certificates.csr_triggers:
                    out.append(Certificates("csr"))  # SignChargePointCertificate: a new key and CSR
                    continue
                event = self._event_named(named) if "{{" in arg else None
                if "{{" in arg and event is None:
                    continue  # `emit:{{params.requested_message}}` naming no event: nothing to send
                event = event or self.profile.events[arg]
                entry = next((t for t in self.spec.telemetry if t.event == event.key), None)
                if entry is not None and entry.every == 0 and entry.every_from is None:
                    # an entry only steps send counts per sending (a transaction number)
                    self._apply_updates(entry)
                out.append(self.emit(event, now, entry))
            elif verb == "close":
                out.append(Close(1000, "closed by the device"))
        return out

    # -- certificates (the caller did the cryptography) -------------------------------
    def certificate_answer(self, op: Certificates, payload: Any, result: str, detail: str | None) -> list[Action]:
        """The audit record and the reply for a certificate command the caller carried out."""
        return [
            Audit(op.command, op.params, result, detail, op.request_id),
            Reply(self.codec.result(op.request_id, payload), op.delay, op.request_id),
        ]

    def certificate_call(self, which: str, payload: dict[str, Any]) -> Emit:
        """The station's own call: "csr" (SignCertificate with the CSR the caller
        made, plus `csr_fields`) or "security_event" (SecurityEventNotification)."""
        spec = self.spec.certificates
        if spec is None:
            raise ValueError(f"{self.profile.id}: no [sim.certificates]")
        if which == "csr":
            return Emit(self.profile.events[spec.csr_event], {**payload, **spec.csr_fields})
        return Emit(self.profile.events[spec.security_event], payload)

    def _event_named(self, text: str) -> Event | None:
        """An event by key or by wire name (TriggerMessage names BootNotification)."""
        return self.profile.events.get(text) or next((e for e in self.profile.events.values() if e.name == text), None)

    def emit(self, event: Event, now: float, telemetry: SimTelemetry | None = None) -> Emit:
        """An event with its payload: the telemetry entry's template for it, else
        the defaults of the event's fields."""
        if telemetry is None:
            telemetry = next((t for t in self.spec.telemetry if t.event == event.key), None)
        if telemetry is not None:
            payload = render(
                telemetry.payload,
                {"state": self.state, "now": iso_time(now), "ts": _ts(now), "name": event.name},
                strict=False,
            )
        else:
            payload = {f.wire_name: f.default for f in event.fields if f.default is not MISSING}
        as_call = event.kind == "request" and self.profile.framing.device_request is not None
        wire = None if as_call or not self.codec.has_notifications() else self.codec.event(event, payload)
        return Emit(event, payload, wire)

    # -- time ----------------------------------------------------------------------
    def tick(self, now: float) -> list[Emit]:
        """Telemetry due at `now`: each entry has its own period; its updates are
        applied, then its payload rendered."""
        out = []
        for index, telemetry in enumerate(self.spec.telemetry):
            if now < self._next[index]:
                continue
            if self._holds(telemetry.when, {}):
                self._apply_updates(telemetry)
                out.append(self.emit(self.profile.events[telemetry.event], now, telemetry))
            period = self._period[index] * self.interval_scale
            self._next[index] += period
            if self._next[index] <= now:
                # fell behind (a paused process): no burst of stale emissions
                self._next[index] = now + period
        return out

    def _apply_updates(self, telemetry: SimTelemetry) -> None:
        if all(self.state.get(k) == v for k, v in telemetry.update_when):
            for update in telemetry.updates:
                self.state[update.field] = self._update(update)

    def _period_of(self, telemetry: SimTelemetry) -> float:
        """Seconds between emissions; a period read from the state that is not a
        positive number (0, "", a missing key) means: not on a timer."""
        if telemetry.every_from is None:
            return telemetry.every
        value = render(telemetry.every_from, {"state": self.state}, strict=False)
        try:
            seconds = float(value)  # OCPP 1.6 configuration values are strings: "300"
        except (TypeError, ValueError):
            return 0.0
        return max(seconds, 0.01) if math.isfinite(seconds) and seconds > 0 else 0.0

    def _reschedule(self, now: float) -> None:
        """A period read from the state that changed starts over from now (a
        HeartbeatInterval from the boot answer, a boot retry after Rejected)."""
        for index, telemetry in enumerate(self.spec.telemetry):
            if telemetry.every_from is None:
                continue
            period = self._period_of(telemetry)
            if period != self._period[index]:
                self._period[index] = period
                self._next[index] = now + period * self.interval_scale if period > 0 else math.inf

    def next_due(self) -> float | None:
        due = min(self._next, default=math.inf)
        return None if due == math.inf else due

    def _update(self, update: Update) -> Any:
        current = self.state.get(update.field)
        initial = self.spec.state.get(update.field)
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            return current  # a string or flag has nothing to increment
        if update.increment is not None:
            value: float = current + update.increment
        elif update.random_walk is not None:
            value = current + self.rng.uniform(-update.random_walk, update.random_walk)
        else:
            base = (
                update.around
                if update.around is not None
                else float(initial if isinstance(initial, (int, float)) else current)
            )
            spread = abs(base) * (update.fluctuation or 0.0) / 100.0
            value = base + self.rng.uniform(-spread, spread)
        if update.minimum is not None:
            value = max(update.minimum, value)
        if update.maximum is not None:
            value = min(update.maximum, value)
        # an integer stays an integer (counters, register values); floats keep
        # three decimals so telemetry stays readable
        if isinstance(initial, int) and not isinstance(initial, bool):
            return int(round(value))
        return round(value, 3)


def _ts(now: float) -> float:
    """`{{ts}}`: the time as epoch seconds, as Shelly's notifications carry it."""
    return round(now, 2)


def _matches(payload: Any, pointer: str, wanted: Any) -> bool:
    have = resolve(payload, pointer)
    return have in wanted if isinstance(wanted, list) else _same(have, wanted)


def _is_entry(value: Any) -> bool:
    """In a state table, a non-table value or a table with a `value` is an entry;
    other tables group entries (2.0.1: component -> variable)."""
    return not isinstance(value, dict) or "value" in value


def _names(table: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in table.items():
        if _is_entry(value):
            out.append(prefix + key)
        else:
            out += _names(value, f"{prefix}{key}.")
    return out


def _same(have: Any, wanted: Any) -> bool:
    # TOML false must not equal a state of 0
    return have == wanted and isinstance(have, bool) == isinstance(wanted, bool)


def with_overrides(
    faults: Faults, *, reply_delay: float | None = None, drop: float | None = None, error: float | None = None
) -> Faults:
    """The profile's faults with command-line overrides laid over them."""
    changes = {
        k: v
        for k, v in (("reply_delay", reply_delay), ("drop_reply_probability", drop), ("error_reply_probability", error))
        if v is not None
    }
    for key, value in changes.items():
        if value < 0 or (key != "reply_delay" and value > 1):
            raise ValueError(f"{key} out of range: {value}")
    if reply_delay is not None and reply_delay > MAX_TIMEOUT:
        # every delayed reply holds its request until then: a bound, as for timeouts
        raise UsageError(f"--reply-delay {reply_delay:g}: at most {MAX_TIMEOUT:g} seconds (a day)")
    return replace(faults, **changes)
