"""Reading and checking a profile.  Every error names the file, the section
and the field at fault, in one line: `conveyor.toml: commands.set_speed.params.speed.maximum: expected a number`."""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal, overload

from wsctl.core import roles as role_rules
from wsctl.core.errors import InvalidInput
from wsctl.core.hub.central_spec import parse_central
from wsctl.core.pointer import split as split_pointer
from wsctl.core.profile import presets
from wsctl.core.profile.format import FORMAT, MAX_TIMEOUT, PROFILE_ID
from wsctl.core.profile.model import (
    ENCODINGS,
    ERROR_KINDS,
    ID_SCHEMES,
    INBOUND_KINDS,
    Command,
    ErrorForm,
    Event,
    Framing,
    InboundRule,
    Match,
    Profile,
)
from wsctl.core.profile.params import Param, finite, parse_param, short
from wsctl.core.profile.regex_guard import compile_bounded
from wsctl.core.profile.sim_loader import parse_sim
from wsctl.core.profile.template import FILTERS, TemplateError, placeholder_filters, text_pattern
from wsctl.core.toml_text import parse_toml

TOP_KEYS = {"format", "profile", "transport", "framing", "commands", "events", "sim", "central"}
COMMAND_KEYS = {
    "name",
    "summary",
    "description",
    "params",
    "timeout",
    "dangerous",
    "confirm",
    "roles",
    "success",
    "request",
}
EVENT_KEYS = {"name", "summary", "kind", "reply", "fields"}
#: what framing templates may name (params.* and state.* are checked elsewhere)
FRAMING_NAMES = {"id", "name", "params", "payload", "code", "message", "detail", "now"}
#: transport.path: RFC 3986 path characters (unreserved, sub-delims, ':', '@',
#: '/', %XX) and the braces of a device-side ``/ocpp/{id}``.  It goes into the
#: handshake's request line, where a CR/LF or space would split it (the
#: handshake library refuses it only when the profile is used); '?' and '#'
#: would turn the rest into a query or fragment of the URL it is put in
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/{}]|%[0-9A-Fa-f]{2})*")
#: a subprotocol is an RFC 7230 token (RFC 6455 section 4.1: Sec-WebSocket-Protocol)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> InvalidInput:
        return InvalidInput(f"{self.source}: {where}: {message}")

    def table(self, value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "expected a table")
        if allowed is not None:
            unknown = sorted(set(value) - allowed)
            if unknown:
                raise self.fail(
                    f"{where}.{unknown[0]}" if where else unknown[0],
                    f"unknown field (known: {', '.join(sorted(allowed))})",
                )
        return value

    @overload
    def str_(self, table: dict[str, Any], key: str, where: str, default: str) -> str: ...
    @overload
    def str_(self, table: dict[str, Any], key: str, where: str, *, required: Literal[True]) -> str: ...
    @overload
    def str_(
        self, table: dict[str, Any], key: str, where: str, default: None = None, *, required: bool = False
    ) -> str | None: ...
    def str_(
        self, table: dict[str, Any], key: str, where: str, default: str | None = None, *, required: bool = False
    ) -> str | None:
        value = table.get(key, default)
        if value is None:
            if required:
                raise self.fail(f"{where}.{key}", "missing")
            return None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"expected a string, got {type(value).__name__}")
        return value

    def number(
        self,
        table: dict[str, Any],
        key: str,
        where: str,
        default: float,
        *,
        low: float = 0.0,
        high: float | None = None,
    ) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{where}.{key}", "expected a number")
        if not finite(value):
            # TOML has nan, inf and integers of any size; a wait of nan seconds is no setting
            raise self.fail(f"{where}.{key}", f"expected a finite number, got {short(value)}")
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise self.fail(f"{where}.{key}", f"must be {bound}, got {value}")
        return float(value)

    def str_list(self, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}.{key}", "expected a list of strings")
        return tuple(value)

    def regex(self, value: Any, where: str) -> re.Pattern[str] | None:
        if value is None:
            return None
        try:
            return compile_bounded(value)
        except (re.error, TypeError) as exc:
            raise self.fail(where, f"not a valid regex: {exc}") from None
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    @overload
    def pointer(self, value: str, where: str) -> str: ...
    @overload
    def pointer(self, value: Any, where: str) -> str | None: ...
    def pointer(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise TypeError(value)
            split_pointer(value)
        except (ValueError, AttributeError, TypeError):
            raise self.fail(where, f'not a JSON pointer: {value!r} (e.g. "/id", "/0")') from None
        return value

    def template_names(
        self,
        template: Any,
        where: str,
        allowed: set[str],
        params: tuple[Param, ...] | None = None,
        state: dict[str, Any] | None = None,
        *,
        filters: bool = False,
    ) -> None:
        """Every placeholder must have a value; `filters`: this template is only
        ever written (sim, event replies), never read back like a request, so
        `{{x|string}}` is allowed in it."""
        names = {p.name for p in params} if params is not None else None
        for placeholder, filter_name in placeholder_filters(template):
            if filter_name is not None and not filters:
                raise self.fail(
                    where,
                    f"template uses the filter |{filter_name}: filters are for [sim] and event reply templates "
                    "(requests are read back by their template)",
                )
            if filter_name is not None and filter_name not in FILTERS:
                raise self.fail(
                    where,
                    f"template names {{{{{placeholder}|{filter_name}}}}}: unknown filter (known: {', '.join(FILTERS)})",
                )
            head, _, rest = placeholder.partition(".")
            if head == "params" and rest:
                if names is not None and rest not in names:
                    raise self.fail(where, f"template names {{{{{placeholder}}}}}, but there is no parameter {rest!r}")
                continue
            if head == "state" and rest:
                if state is not None and rest.split(".")[0] not in state:
                    raise self.fail(
                        where, f"template names {{{{{placeholder}}}}}, but sim.state has no {rest.split('.')[0]!r}"
                    )
                continue
            if head not in allowed:
                raise self.fail(
                    where,
                    f"template names {{{{{placeholder}}}}}; known: {', '.join(sorted(allowed))}, params.NAME, state.NAME",
                )


def _framing(c: _Checker, table: dict[str, Any], transport_encoding: str | None) -> Framing:
    table = c.table(table, "framing", set(presets.FRAMING_KEYS))
    preset = c.str_(table, "preset", "framing")
    if preset is not None and preset not in presets.PRESETS:
        raise c.fail("framing.preset", f"unknown preset {preset!r} (known: {', '.join(presets.PRESETS)})")
    merged = presets.expand(table)
    if transport_encoding is not None:
        merged["encoding"] = transport_encoding
    encoding, id_scheme, max_in_flight = _framing_scheme(c, merged)
    inbound = _inbound_rules(c, merged, encoding, id_scheme)
    separators = c.str_list(merged, "separators", "framing")
    if any(not s for s in separators):
        raise c.fail("framing.separators", "a separator cannot be empty")
    return Framing(
        preset=preset,
        encoding=encoding,
        id_scheme=id_scheme,
        max_in_flight=max_in_flight,
        request=merged["request"],
        result=merged.get("result"),
        error=merged.get("error"),
        event=merged.get("event"),
        device_request=merged.get("device_request"),
        inbound=inbound,
        event_regex=c.regex(merged.get("event_regex"), "framing.event_regex"),
        error_regex=c.regex(merged.get("error_regex"), "framing.error_regex"),
        errors=_error_forms(c, merged),
        unknown_id=merged.get("unknown_id"),
        separators=separators if encoding == "text" else (),
    )


def _framing_scheme(c: _Checker, merged: dict[str, Any]) -> tuple[str, str, int]:
    """(encoding, id scheme, max in flight) of the expanded framing, and its templates checked."""
    encoding = merged.get("encoding", "json")
    if encoding not in ENCODINGS:
        raise c.fail("framing.encoding", f"expected one of {', '.join(ENCODINGS)}, got {encoding!r}")
    id_scheme = merged.get("id", "counter" if encoding == "json" else "none")
    if id_scheme not in ID_SCHEMES:
        raise c.fail("framing.id", f"expected one of {', '.join(ID_SCHEMES)}, got {id_scheme!r}")
    max_in_flight = merged.get("max_in_flight", 0)
    if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 0:
        raise c.fail("framing.max_in_flight", "expected a whole number >= 0 (0: unlimited)")
    if "request" not in merged or merged["request"] is None:
        raise c.fail("framing.request", "missing: how a command is written on the wire (or choose a preset)")
    for key in ("request", "result", "error", "event", "device_request"):
        if merged.get(key) is not None:
            c.template_names(merged[key], f"framing.{key}", FRAMING_NAMES)
    if encoding == "json" and id_scheme == "none":
        # a JSON reply is matched to its call by id alone: without one, none ever is
        raise c.fail("framing.id", "a JSON profile needs ids ('counter' or 'uuid4'): replies are matched by id")
    if encoding == "text":
        for key in ("request", "result", "error", "event"):
            if merged.get(key) is not None and not isinstance(merged[key], str):
                raise c.fail(f"framing.{key}", "a text profile's templates are strings")
        if id_scheme != "none" or max_in_flight != 1:
            # no ids on the wire: only lockstep can pair replies with requests
            merged["id"], merged["max_in_flight"], id_scheme, max_in_flight = "none", 1, "none", 1
    return encoding, id_scheme, max_in_flight


def _inbound_rules(c: _Checker, merged: dict[str, Any], encoding: str, id_scheme: str) -> tuple[InboundRule, ...]:
    raw_rules = merged.get("inbound") or []
    if not isinstance(raw_rules, list):
        raise c.fail("framing.inbound", "expected a list of rules ([[framing.inbound]])")
    inbound = tuple(_inbound_rule(c, rule, f"framing.inbound[{i}]", id_scheme) for i, rule in enumerate(raw_rules))
    if encoding == "json":
        kinds = {r.kind for r in inbound}
        if "result" not in kinds:
            raise c.fail("framing.inbound", "no rule of kind 'result': replies could never be recognised")
        if "error" not in kinds:
            # without one a device error fits no rule: the call would time out
            # instead of failing with the device's words (exit 7)
            raise c.fail("framing.inbound", "no rule of kind 'error': device errors could never be recognised")
    elif merged.get("error_regex") is None:
        # every line would be taken as a success reply, errors included
        raise c.fail("framing.error_regex", "missing: how an error line is recognised (or choose a preset)")
    return inbound


def _inbound_rule(c: _Checker, rule: Any, where: str, id_scheme: str) -> InboundRule:
    rule = c.table(rule, where, {"kind", "match", "id", "name", "payload", "code", "message", "detail"})
    kind = rule.get("kind")
    if kind not in INBOUND_KINDS:
        raise c.fail(f"{where}.kind", f"expected one of {', '.join(INBOUND_KINDS)}, got {kind!r}")
    matches = []
    for pointer, cond in c.table(rule.get("match"), f"{where}.match").items():
        c.pointer(pointer, f"{where}.match")
        if isinstance(cond, dict) and set(cond) == {"exists"} and isinstance(cond["exists"], bool):
            matches.append(Match(pointer, exists=cond["exists"]))
        else:
            matches.append(Match(pointer, value=cond))
    if not matches:
        raise c.fail(f"{where}.match", "missing: at least one pointer condition")
    pointers = {
        k: c.pointer(rule.get(k), f"{where}.{k}") for k in ("id", "name", "payload", "code", "message", "detail")
    }
    if kind in ("result", "error", "request") and id_scheme != "none" and pointers["id"] is None:
        raise c.fail(f"{where}.id", f"a {kind} rule needs the pointer to the id")
    if kind in ("event", "request") and pointers["name"] is None:
        raise c.fail(f"{where}.name", f"an {kind} rule needs the pointer to the name")
    return InboundRule(kind=kind, match=tuple(matches), **pointers)


def _error_forms(c: _Checker, merged: dict[str, Any]) -> dict[str, ErrorForm]:
    errors = {}
    raw_errors = c.table(merged.get("errors"), "framing.errors", set(ERROR_KINDS))
    for kind in ERROR_KINDS:
        form = c.table(
            # not given: the kind's name is its code, so that kinds stay apart (a
            # device error must not read as a refusal for the role, exit 9)
            raw_errors.get(kind, {"code": kind, "message": kind.replace("_", " ")}),
            f"framing.errors.{kind}",
            {"code", "message"},
        )
        errors[kind] = ErrorForm(code=form.get("code"), message=str(form.get("message", kind)))
    return errors


def _params(c: _Checker, table: Any, where: str) -> tuple[Param, ...]:
    return tuple(parse_param(name, spec, f"{c.source}: {where}.{name}") for name, spec in c.table(table, where).items())


def _command(c: _Checker, key: str, table: Any, framing: Framing, default_timeout: float) -> Command:
    where = f"commands.{key}"
    table = c.table(table, where, COMMAND_KEYS)
    params = _params(c, table.get("params"), f"{where}.params")
    request = table.get("request", framing.request)
    if "request" in table:
        c.template_names(request, f"{where}.request", FRAMING_NAMES, params)
    else:
        try:
            c.template_names(request, f"{where}", FRAMING_NAMES, params)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc.message} (the template is framing.request; give this command its own `request`)"
            ) from None
    roles = c.str_list(table, "roles", where) if "roles" in table else ("*",)
    try:
        allowed = role_rules.expand_all(roles)
    except ValueError as exc:
        raise c.fail(f"{where}.roles", str(exc)) from None
    dangerous = table.get("dangerous", False)
    if not isinstance(dangerous, bool):
        raise c.fail(f"{where}.dangerous", "expected true or false")
    success: tuple[tuple[str, Any], ...] = ()
    success_regex: re.Pattern[str] | None = None
    if "success" in table:
        spec = c.table(table["success"], f"{where}.success")
        if framing.encoding == "text":
            c.table(spec, f"{where}.success", {"regex"})
            success_regex = c.regex(spec.get("regex"), f"{where}.success.regex")
        else:
            success = tuple((c.pointer(p, f"{where}.success"), v) for p, v in spec.items())
    name = c.str_(table, "name", where, key)
    reader = None
    if framing.encoding == "text":
        try:
            reader = text_pattern(str(request), {"name": name})
        except (TemplateError, re.error) as exc:
            raise c.fail(f"{where}.request" if "request" in table else "framing.request", str(exc)) from None
    return Command(
        key=key,
        name=name,
        summary=c.str_(table, "summary", where, ""),
        description=c.str_(table, "description", where, ""),
        params=params,
        timeout=c.number(table, "timeout", where, default_timeout, low=0.001, high=MAX_TIMEOUT),
        dangerous=dangerous,
        confirm=c.str_(table, "confirm", where),
        roles=roles,
        allowed_roles=allowed,
        success=success,
        success_regex=success_regex,
        request=request,
        reader=reader,
    )


def _event(c: _Checker, key: str, table: Any) -> Event:
    where = f"events.{key}"
    table = c.table(table, where, EVENT_KEYS)
    kind = table.get("kind", "request" if "reply" in table else "telemetry")
    if kind not in ("telemetry", "request"):
        raise c.fail(f"{where}.kind", f"expected telemetry or request, got {kind!r}")
    if "reply" in table:
        c.template_names(table["reply"], f"{where}.reply", {"now", "payload", "name", "id"}, filters=True)
    return Event(
        key=key,
        name=c.str_(table, "name", where, key),
        summary=c.str_(table, "summary", where, ""),
        kind=kind,
        reply=table.get("reply"),
        fields=_params(c, table.get("fields"), f"{where}.fields"),
    )


def _rules_for_events(c: _Checker, framing: Framing, events: dict[str, Event]) -> None:
    """Declared events must be recognisable on the wire, or they would arrive
    as "fits no rule" (JSON) or be taken as a command's reply (text)."""
    by_kind = {kind: next((k for k, e in events.items() if e.kind == kind), None) for kind in ("request", "telemetry")}
    if framing.encoding == "json":
        kinds = {r.kind for r in framing.inbound}
        if by_kind["request"] is not None and "request" not in kinds:
            raise c.fail(
                "framing.inbound", f"no rule of kind 'request', but events.{by_kind['request']} is a device request"
            )
        if by_kind["telemetry"] is not None and "event" not in kinds:
            raise c.fail("framing.inbound", f"no rule of kind 'event', but events.{by_kind['telemetry']} is telemetry")
    elif by_kind["telemetry"] is not None and framing.event_regex is None:
        raise c.fail(
            "framing.event_regex",
            f"missing, but events.{by_kind['telemetry']} is telemetry (its lines would be taken as replies)",
        )


def _path(c: _Checker, transport: dict[str, Any]) -> str:
    path = c.str_(transport, "path", "transport", "/")
    if not _PATH.fullmatch(path):
        if not path.startswith("/"):
            why = "does not start with '/'"
        else:
            bad = next((ch for ch in path if not _PATH.fullmatch("/" + ch) and ch != "%"), None)
            why = f"character {bad!r} is not allowed" if bad else "a '%' not followed by two hex digits"
        raise c.fail("transport.path", f"{why} (a URL path such as /rpc: RFC 3986 characters, no spaces)")
    return path


def _subprotocols(c: _Checker, transport: dict[str, Any]) -> tuple[str, ...]:
    names = c.str_list(transport, "subprotocols", "transport")
    for n, name in enumerate(names):
        if not _TOKEN.fullmatch(name):
            bad = next((ch for ch in name if not _TOKEN.fullmatch(ch)), None)
            why = f"character {bad!r} is not allowed" if bad else "empty"
            raise c.fail(
                f"transport.subprotocols[{n}]", f"{why} (a token: letters, digits and !#$%&'*+-.^_`|~, no spaces)"
            )
    return names


def _refuse_dates(c: _Checker, value: Any, where: str) -> None:
    """TOML has dates and times, JSON (and every template rendered to it) has not."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        raise c.fail(where, f"TOML date/time {value.isoformat()}: not JSON; write it as a string")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_dates(c, item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _refuse_dates(c, item, f"{where}[{n}]")


def parse_profile(text: str, *, source: str = "<profile>") -> Profile:
    c = _Checker(source)
    data = parse_toml(text, source)
    c.table(data, "", TOP_KEYS)
    _refuse_dates(c, data, "")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise c.fail(
            "format", f"expected {FORMAT!r}, got {fmt!r}" if fmt else f'missing (first line: format = "{FORMAT}")'
        )
    meta = c.table(data.get("profile"), "profile", {"id", "title", "version", "description", "timeout"})
    profile_id = c.str_(meta, "id", "profile", required=True)
    if not PROFILE_ID.fullmatch(profile_id):
        raise c.fail("profile.id", "letters, digits, '.', '_' and '-' only")
    transport = c.table(data.get("transport"), "transport", {"subprotocols", "path", "dialer", "encoding"})
    dialer = c.str_(transport, "dialer", "transport", "tool")
    if dialer not in ("tool", "device"):
        raise c.fail(
            "transport.dialer",
            "expected 'tool' (wsctl dials the device) or 'device' (the device dials in, as OCPP chargers do)",
        )
    framing = _framing(c, c.table(data.get("framing"), "framing"), c.str_(transport, "encoding", "transport"))
    default_timeout = c.number(meta, "timeout", "profile", 10.0, low=0.001, high=MAX_TIMEOUT)
    commands = {
        key: _command(c, key, spec, framing, default_timeout)
        for key, spec in c.table(data.get("commands"), "commands").items()
    }
    if not commands:
        raise c.fail("commands", "a profile needs at least one command")
    seen: dict[str, str] = {}
    for key, command in commands.items():
        if command.name in seen:
            raise c.fail(
                f"commands.{key}.name", f"duplicate command name {command.name!r} (also commands.{seen[command.name]})"
            )
        seen[command.name] = key
    for key in commands:
        other = seen.get(key)
        if other is not None and other != key:
            # `send X KEY` and the device side look names up by key and by wire name
            raise c.fail(f"commands.{key}", f"the key is the wire name of commands.{other}: one name, two commands")
    events = {key: _event(c, key, spec) for key, spec in c.table(data.get("events"), "events").items()}
    seen_events: dict[str, str] = {}
    for key, event in events.items():
        if event.name in seen_events:
            raise c.fail(
                f"events.{key}.name", f"duplicate event name {event.name!r} (also events.{seen_events[event.name]})"
            )
        seen_events[event.name] = key
    _rules_for_events(c, framing, events)
    return Profile(
        id=profile_id,
        title=c.str_(meta, "title", "profile", profile_id),
        version=c.str_(meta, "version", "profile", "0"),
        description=c.str_(meta, "description", "profile", ""),
        source=source,
        subprotocols=_subprotocols(c, transport),
        path=_path(c, transport),
        dialer=dialer,
        framing=framing,
        default_timeout=default_timeout,
        commands=commands,
        events=events,
        sim=parse_sim(c, data.get("sim"), commands, events),
        raw=data,
        central=parse_central(c, data.get("central"), events, framing),
    )
