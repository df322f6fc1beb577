"""Reading and checking a profile's `[sim]` table (the simulated device).

Kept apart from loader.py: the simulator's format grows on its own (responses
to the device's own calls, lists built from state tables, state-driven
telemetry periods), and every error still names the field at fault in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsctl.core.profile import statepath
from wsctl.core.profile.format import MAX_TIMEOUT
from wsctl.core.profile.model import (
    Command,
    Event,
    Faults,
    Sim,
    SimCertificates,
    SimCheck,
    SimCommand,
    SimList,
    SimResponse,
    SimTelemetry,
    Update,
)
from wsctl.core.profile.params import Param

if TYPE_CHECKING:
    from wsctl.core.profile.loader import _Checker

State = dict[str, Any]
Params = tuple[Param, ...]

SIM_KEYS = {"state", "commands", "telemetry", "faults", "on_connect", "on_connect_set", "responses", "certificates"}
CERTIFICATE_KEYS = {"ocpp", "csr_event", "security_event", "csr_triggers", "commands", "csr_fields"}
#: what the station side does for a command of [sim.certificates] commands
CERTIFICATE_OPS = ("signed", "install", "list", "delete")
OCPP_VERSIONS = ("1.6", "2.0.1")
COMMAND_KEYS = {"reply", "set", "require", "require_message", "require_reply", "delay", "then", "checks", "lists"}
TELEMETRY_KEYS = {"event", "every", "payload", "update", "update_when", "when"}
LIST_KEYS = {
    "field",
    "state",
    "names",
    "name",
    "item",
    "unknown_item",
    "unknown",
    "write",
    "write_when",
    "refused_item",
}
#: what each kind of template may name besides params.NAME and state.NAME
COMMAND_NAMES = {"now", "ts", "name", "id"}
LIST_NAMES = COMMAND_NAMES | {"key", "item", "request"}
RESPONSE_NAMES = {"now", "ts", "payload", "ok"}


def parse_sim(c: _Checker, table: Any, commands: dict[str, Command], events: dict[str, Event]) -> Sim | None:
    if table is None:
        return None
    table = c.table(table, "sim", SIM_KEYS)
    state = dict(c.table(table.get("state"), "sim.state"))
    sim_commands = {
        key: _command(c, key, spec, commands, events, state)
        for key, spec in c.table(table.get("commands"), "sim.commands").items()
    }
    telemetry = [
        _telemetry(c, key, spec, events, state)
        for key, spec in c.table(table.get("telemetry"), "sim.telemetry").items()
    ]
    faults = c.table(
        table.get("faults"), "sim.faults", {"reply_delay", "drop_reply_probability", "error_reply_probability"}
    )
    return Sim(
        state=state,
        commands=sim_commands,
        telemetry=tuple(telemetry),
        faults=Faults(
            reply_delay=c.number(faults, "reply_delay", "sim.faults", 0.0, high=MAX_TIMEOUT),
            drop_reply_probability=c.number(faults, "drop_reply_probability", "sim.faults", 0.0, high=1.0),
            error_reply_probability=c.number(faults, "error_reply_probability", "sim.faults", 0.0, high=1.0),
        ),
        on_connect=_then(c, c.str_list(table, "on_connect", "sim"), "sim.on_connect", events),
        on_connect_set=_sets(c, table.get("on_connect_set"), "sim.on_connect_set", state, set(), ()),
        responses=_responses(c, table.get("responses"), events, state),
        certificates=_certificates(c, table.get("certificates"), commands, events),
    )


# ----------------------------------------------------------------------------- pieces


def _path(c: _Checker, path: str, where: str, state: State, names: set[str], params: Params) -> tuple[str, ...]:
    """A state path whose first segment is declared in sim.state; templated segments checked."""
    try:
        parts = statepath.split(path)
    except ValueError as exc:
        raise c.fail(where, str(exc)) from None
    if parts[0] not in state:
        raise c.fail(where, "not in sim.state (declare it there with its initial value)")
    for part in parts[1:]:
        c.template_names(part, where, names, params, state)
    return parts


def _sets(
    c: _Checker, table: Any, where: str, state: State, names: set[str], params: Params
) -> tuple[tuple[str, Any], ...]:
    sets = c.table(table, where)
    for path, value in sets.items():
        _path(c, path, f"{where}.{path}", state, names, params)
        c.template_names(value, f"{where}.{path}", names, params, state, filters=True)
    return tuple(sets.items())


def _requires(
    c: _Checker, table: Any, where: str, state: State, names: set[str], params: Params
) -> tuple[tuple[str, Any], ...]:
    require = c.table(table, where)
    for path, wanted in require.items():
        _path(c, path, f"{where}.{path}", state, names, params)
        c.template_names(wanted, f"{where}.{path}", names, params, state)
    return tuple(require.items())


def _then(
    c: _Checker, steps: tuple[str, ...], where: str, events: dict[str, Event], params: Params | None = None
) -> tuple[str, ...]:
    for step in steps:
        verb, _, arg = step.partition(":")
        if verb == "emit" and arg in events:
            continue
        if verb == "emit" and "{{" in arg and params is not None:
            # the event a parameter names (TriggerMessage), by key or wire name, at run time
            c.template_names(arg, where, COMMAND_NAMES, params)
            continue
        if verb == "close" and not arg:
            continue
        hint = (
            f"known events: {', '.join(events) or 'none'}"
            if verb == "emit"
            else "steps: emit:EVENT, emit:{{params.NAME}} (commands), close"
        )
        raise c.fail(where, f"bad step {step!r} ({hint})")
    return steps


def _update(c: _Checker, name: str, spec: Any, where: str) -> Update:
    spec = c.table(spec, where, {"increment", "random_walk", "fluctuation", "around", "min", "max"})
    modes = [k for k in ("increment", "random_walk", "fluctuation") if k in spec]
    if len(modes) != 1:
        raise c.fail(where, "give exactly one of increment, random_walk, fluctuation")
    nums = {k: c.number(spec, k, where, 0.0, low=float("-inf")) for k in spec}
    if modes == ["fluctuation"] and not 0 <= nums["fluctuation"] <= 100:
        raise c.fail(f"{where}.fluctuation", "a percentage between 0 and 100")
    return Update(
        field=name,
        increment=nums.get("increment"),
        random_walk=nums.get("random_walk"),
        fluctuation=nums.get("fluctuation"),
        around=nums.get("around"),
        minimum=nums.get("min"),
        maximum=nums.get("max"),
    )


# ----------------------------------------------------------------------------- sections


def _command(
    c: _Checker, key: str, spec: Any, commands: dict[str, Command], events: dict[str, Event], state: State
) -> SimCommand:
    where = f"sim.commands.{key}"
    if key not in commands:
        raise c.fail(where, f"no command {key!r} in [commands]")
    spec = c.table(spec, where, COMMAND_KEYS)
    params = commands[key].params
    for part in ("reply", "require_message", "require_reply"):
        c.template_names(spec.get(part), f"{where}.{part}", COMMAND_NAMES, params, state, filters=True)
    require = _requires(c, spec.get("require"), f"{where}.require", state, COMMAND_NAMES, params)
    if "require_reply" in spec and not require:
        raise c.fail(f"{where}.require_reply", "has no effect without `require`")
    checks = []
    raw_checks = spec.get("checks", [])
    if not isinstance(raw_checks, list):
        raise c.fail(f"{where}.checks", "expected a list of tables ([[sim.commands.X.checks]])")
    for index, check in enumerate(raw_checks):
        at = f"{where}.checks[{index}]"
        check = c.table(check, at, {"require", "message", "reply"})
        wanted = _requires(c, check.get("require"), f"{at}.require", state, COMMAND_NAMES, params)
        if not wanted:
            raise c.fail(f"{at}.require", "missing: a check needs at least one state path")
        for part in ("message", "reply"):
            c.template_names(check.get(part), f"{at}.{part}", COMMAND_NAMES, params, state, filters=True)
        checks.append(
            SimCheck(wanted, c.str_(check, "message", at, f"{key} is not possible in this state"), check.get("reply"))
        )
    return SimCommand(
        key=key,
        reply=spec.get("reply", {}),
        set=_sets(c, spec.get("set"), f"{where}.set", state, COMMAND_NAMES, params),
        require=require,
        require_message=c.str_(spec, "require_message", where, f"{key} is not possible in this state"),
        delay=c.number(spec, "delay", where, 0.0, high=MAX_TIMEOUT),
        then=_then(c, c.str_list(spec, "then", where), f"{where}.then", events, params),
        require_reply=spec.get("require_reply"),
        checks=tuple(checks),
        lists=_lists(c, spec, where, params, state),
    )


def _lists(c: _Checker, spec: dict[str, Any], where: str, params: Params, state: State) -> tuple[SimList, ...]:
    out = []
    reply = spec.get("reply", {})
    for field, raw in c.table(spec.get("lists"), f"{where}.lists").items():
        at = f"{where}.lists.{field}"
        raw = c.table(raw, at, LIST_KEYS - {"field"})
        if not isinstance(reply, dict):
            raise c.fail(at, "a list goes into a reply object; this command's reply is not one")
        source = c.str_(raw, "state", at, required=True)
        _path(c, source, f"{at}.state", state, set(), params)
        names = c.str_(raw, "names", at)
        if names is not None and names not in {p.name for p in params}:
            raise c.fail(f"{at}.names", f"no parameter {names!r} in commands.{where.rsplit('.', 1)[1]}.params")
        for part in ("name", "item", "unknown_item", "refused_item"):
            c.template_names(raw.get(part), f"{at}.{part}", LIST_NAMES, params, state, filters=True)
        if "item" not in raw:
            raise c.fail(f"{at}.item", "missing: the template of one item (key, item, request)")
        writes = c.table(raw.get("write"), f"{at}.write")
        for part, template in writes.items():
            c.template_names(template, f"{at}.write.{part}", LIST_NAMES, params, state, filters=True)
        out.append(
            SimList(
                field=field,
                state=source,
                names=names,
                name=raw.get("name"),
                item=raw["item"],
                unknown_item=raw.get("unknown_item"),
                unknown=c.str_(raw, "unknown", at),
                write=tuple(writes.items()),
                write_when=tuple(c.table(raw.get("write_when"), f"{at}.write_when").items()),
                refused_item=raw.get("refused_item"),
            )
        )
    return tuple(out)


def _telemetry(c: _Checker, key: str, spec: Any, events: dict[str, Event], state: State) -> SimTelemetry:
    where = f"sim.telemetry.{key}"
    spec = c.table(spec, where, TELEMETRY_KEYS)
    event = c.str_(spec, "event", where, key)
    if event not in events:
        raise c.fail(f"{where}.event", f"no event {event!r} in [events]")
    c.template_names(spec.get("payload"), f"{where}.payload", {"now", "ts", "name"}, (), state, filters=True)
    updates = []
    for field_name, upd in c.table(spec.get("update"), f"{where}.update").items():
        if field_name not in state:
            raise c.fail(f"{where}.update.{field_name}", "not in sim.state")
        updates.append(_update(c, field_name, upd, f"{where}.update.{field_name}"))
    every_from = None
    if isinstance(spec.get("every"), str):
        every_from = spec["every"]
        if "{{" not in every_from:
            raise c.fail(f"{where}.every", 'seconds, or a template read from the state: "{{state.NAME}}"')
        c.template_names(every_from, f"{where}.every", set(), (), state)
        every = 0.0
    else:
        every = c.number(spec, "every", where, 1.0, low=0.0)
        if 0 < every < 0.01:
            raise c.fail(f"{where}.every", "at least 0.01 s (or 0: only when a step emits it)")
    update_when = c.table(spec.get("update_when"), f"{where}.update_when")
    for field_name in update_when:
        if field_name not in state:
            raise c.fail(f"{where}.update_when.{field_name}", "not in sim.state")
    return SimTelemetry(
        key=key,
        event=event,
        every=every,
        payload=spec.get("payload", {}),
        updates=tuple(updates),
        update_when=tuple(update_when.items()),
        when=_requires(c, spec.get("when"), f"{where}.when", state, set(), ()),
        every_from=every_from,
    )


def _responses(c: _Checker, table: Any, events: dict[str, Event], state: State) -> dict[str, tuple[SimResponse, ...]]:
    out: dict[str, tuple[SimResponse, ...]] = {}
    for key, raw in c.table(table, "sim.responses").items():
        where = f"sim.responses.{key}"
        if key not in events or events[key].kind != "request":
            requests = ", ".join(k for k, e in events.items() if e.kind == "request") or "none"
            raise c.fail(where, f"no device request {key!r} in [events] (requests: {requests})")
        cases = raw if isinstance(raw, list) else [raw]
        parsed = []
        for index, case in enumerate(cases):
            at = f"{where}[{index}]" if isinstance(raw, list) else where
            case = c.table(case, at, {"when", "set", "then"})
            when = c.table(case.get("when"), f"{at}.when")
            for pointer in when:
                c.pointer(pointer, f"{at}.when.{pointer}")
            parsed.append(
                SimResponse(
                    when=tuple(when.items()),
                    set=_sets(c, case.get("set"), f"{at}.set", state, RESPONSE_NAMES, ()),
                    then=_then(c, c.str_list(case, "then", at), f"{at}.then", events),
                )
            )
        out[key] = tuple(parsed)
    return out


def _certificates(
    c: _Checker, table: Any, commands: dict[str, Command], events: dict[str, Event]
) -> SimCertificates | None:
    if table is None:
        return None
    where = "sim.certificates"
    table = c.table(table, where, CERTIFICATE_KEYS)
    version = c.str_(table, "ocpp", where, required=True)
    if version not in OCPP_VERSIONS:
        raise c.fail(f"{where}.ocpp", f"{version!r}: one of {', '.join(OCPP_VERSIONS)}")
    requests = {k for k, e in events.items() if e.kind == "request"}
    calls = {}
    for part in ("csr_event", "security_event"):
        calls[part] = c.str_(table, part, where, required=True)
        if calls[part] not in requests:
            raise c.fail(f"{where}.{part}", f"no device request {calls[part]!r} in [events]")
    ops = c.table(table.get("commands"), f"{where}.commands")
    for key, op in ops.items():
        if key not in commands:
            raise c.fail(f"{where}.commands.{key}", f"no command {key!r} in [commands]")
        if op not in CERTIFICATE_OPS:
            raise c.fail(f"{where}.commands.{key}", f"{op!r}: one of {', '.join(CERTIFICATE_OPS)}")
    return SimCertificates(
        ocpp=version,
        csr_event=calls["csr_event"],
        security_event=calls["security_event"],
        csr_triggers=c.str_list(table, "csr_triggers", where),
        commands=dict(ops),
        csr_fields=dict(c.table(table.get("csr_fields"), f"{where}.csr_fields")),
    )
