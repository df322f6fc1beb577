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

import math
import random
from dataclasses import dataclass, replace
from typing import Any

from wsctl.core import roles
from wsctl.core.pointer import MISSING
from wsctl.core.profile.device import BadRequest, DeviceCodec, Request
from wsctl.core.profile.model import Event, Faults, Profile, SimTelemetry, Update
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


Action = Reply | Drop | Emit | Close | Audit

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
        self.state: dict[str, Any] = dict(self.spec.state)
        #: encoders only; ids in progress are tracked per connection
        self.codec = DeviceCodec(profile)
        # every = 0: emitted only by `emit:` steps, never on a timer
        self._next = [now + t.every * interval_scale if t.every > 0 else math.inf for t in self.spec.telemetry]

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
        context = {"params": params, "state": self.state, "now": iso_time(now), "id": rid, "name": command.name}
        if spec is not None:
            for field, wanted in spec.require:
                have = self.state.get(field, MISSING)
                if not (have in wanted if isinstance(wanted, list) else _same(have, wanted)):
                    message = render_text(spec.require_message, context, strict=False)
                    if spec.require_reply is not None:
                        payload = render(spec.require_reply, context, strict=False)
                        return [
                            Audit(command.key, params, "rejected", message, rid),
                            Reply(codec.result(rid, payload), delay, rid),
                        ]
                    return [
                        Audit(command.key, params, "error", message, rid),
                        Reply(codec.error(rid, "device", message), delay, rid),
                    ]
        if self._roll(self.faults.error_reply_probability):
            detail = "injected fault (error_reply_probability)"
            return [
                Audit(command.key, params, "error", detail, rid),
                Reply(codec.error(rid, "device", detail), delay, rid),
            ]
        if spec is not None:
            updates = {}
            for field, template in spec.set:
                value = render(template, context, strict=False)
                if value is not MISSING:
                    updates[field] = value
            self.state.update(updates)
            payload = render(spec.reply, {**context, "state": self.state}, strict=False)
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
        actions += self.steps(spec.then if spec else (), now)
        return actions

    def reject(self, bad: BadRequest) -> list[Action]:
        """A request the codec refused: audit it, answer with its error form."""
        actions: list[Action] = [Audit(bad.command.key if bad.command else None, None, "invalid", bad.reason, bad.id)]
        if bad.reply is not None:
            actions.append(Reply(bad.reply, 0.0, None))  # None: a colliding id stays in progress
        return actions

    def _roll(self, probability: float) -> bool:
        # no draw at 0 so that switching a fault off does not shift other draws
        return probability > 0 and self.rng.random() < probability

    # -- steps and events -----------------------------------------------------------
    def on_connect(self, now: float) -> list[Action]:
        return self.steps(self.spec.on_connect, now)

    def steps(self, steps: tuple[str, ...], now: float) -> list[Action]:
        out: list[Action] = []
        for step in steps:
            verb, _, arg = step.partition(":")
            if verb == "emit":
                out.append(self.emit(self.profile.events[arg], now))
            elif verb == "close":
                out.append(Close(1000, "closed by the device"))
        return out

    def emit(self, event: Event, now: float, telemetry: SimTelemetry | None = None) -> Emit:
        """An event with its payload: the telemetry entry's template for it, else
        the defaults of the event's fields."""
        if telemetry is None:
            telemetry = next((t for t in self.spec.telemetry if t.event == event.key), None)
        if telemetry is not None:
            payload = render(
                telemetry.payload, {"state": self.state, "now": iso_time(now), "name": event.name}, strict=False
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
            if all(self.state.get(k) == v for k, v in telemetry.update_when):
                for update in telemetry.updates:
                    self.state[update.field] = self._update(update)
            out.append(self.emit(self.profile.events[telemetry.event], now, telemetry))
            period = telemetry.every * self.interval_scale
            self._next[index] += period
            if self._next[index] <= now:
                # fell behind (a paused process): no burst of stale emissions
                self._next[index] = now + period
        return out

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
    return replace(faults, **changes)
