"""The tool's side of a profile, sans-I/O: frame commands, read what comes back.

Theory of operation.  `ClientCodec.call(command, params)` checks the
parameters, renders the request, gives it an id (or none, in lockstep) and
records it as pending.  Every inbound message goes to `feed(message, now)`,
which classifies it with the profile's inbound rules (JSON) or regexes (text)
and returns events (`wsctl.core.profile.events`: `Reply`, `Telemetry`,
`DeviceRequest`, `Unmatched`, `Malformed`, all `CodecEvent`s).

The caller owns time: `expire(now)` returns calls whose timeout passed and
remembers their ids, so a late answer is reported as late.  Nothing here blocks
or does I/O; `wsctl.net.session` drives it over a connection.

Lockstep (text) has no ids, so "late" is counted instead: each call given up on
(`cancel`, `expire`) leaves one line owed, and the next non-event line (result
or ERR) pays that debt as `Unmatched` instead of being taken as the reply to
the call sent after it.  The limit is the protocol's: a device that never sends
the late line (it dropped the request) shifts the replies by one: each later
reply is taken as the previous call's late one, so every later call times out
until the connection is reopened.  That is the price of a protocol without ids;
guessing that a line was lost would hand a slow device's late reply to the
wrong command, which is worse than a timeout.  At most LATE_MEMORY debts are
remembered.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.profile.events import (  # noqa: F401 - the event types are read from here too
    CodecEvent,
    DeviceErrorInfo,
    DeviceRequest,
    Malformed,
    Outgoing,
    Reply,
    Telemetry,
    Unmatched,
)
from wsctl.core.profile.model import Command, Event, InboundRule, Profile
from wsctl.core.profile.regex_guard import LINE_LIMIT, head
from wsctl.core.profile.template import (
    TemplateError,
    compile_template,
    dumps,
    iso_time,
    placeholders,
    render,
    render_text,
)
from wsctl.core.unicode_text import loads_unicode

LATE_MEMORY = 1024
#: request templates compiled once per command and shared by every codec (a
#: fleet run or a hub has one codec per connection); keyed by the command's
#: identity, which the entry keeps alive and checks
_COMPILED: dict[tuple[int, str], tuple[Command, tuple[Any, bool]]] = {}
MAX_COMPILED = 4096


def bind_params(command: Command, given: dict[str, Any], *, from_text: bool) -> dict[str, Any]:
    """Check a call's parameters against the command's schema and apply defaults.

    `from_text` values are command-line strings (`speed=1200`) parsed by type.
    Errors carry the command's usage as their hint.
    """
    out: dict[str, Any] = {}
    for name, value in given.items():
        param = command.param(name)
        if param is None:
            known = ", ".join(p.name for p in command.params) or "none"
            raise InvalidInput(
                f"{command.key}: unknown parameter {name!r} (parameters: {known})", hint=f"usage: {command.usage()}"
            )
        try:
            out[name] = (
                param.parse(value, where=f"{command.key}: ")
                if from_text
                else param.check(value, where=f"{command.key}: ")
            )
        except InvalidInput as exc:
            raise InvalidInput(exc.message, hint=f"usage: {command.usage()}") from None
    for param in command.params:
        if param.name in out:
            continue
        if param.default is not MISSING:
            out[param.name] = param.default
        elif param.required:
            raise InvalidInput(
                f"{command.key}: missing parameter {param.name!r} ({param.describe()})",
                hint=f"usage: {command.usage()}",
            )
    return out


def _group(match: re.Match[str], name: str, line: str) -> str:
    """A group of a match on the line's head, running on to the end of the
    line when it reached the end of the head (the payload of a long line)."""
    value = match.group(name) or ""
    if len(line) > LINE_LIMIT and match.end(name) == LINE_LIMIT:
        value += line[LINE_LIMIT:]
    return value


def _shown(text: str) -> str:
    """A device's words in an error line, cut short (a line may be 1 MiB)."""
    return repr(text) if len(text) <= 200 else f"{text[:200]!r}... ({len(text)} characters)"


def _refuse_smuggling(command: Command, params: dict[str, Any], separators: tuple[str, ...]) -> None:
    """A text device runs a line break or a separator (SCPI's `;`) inside a
    value as the start of a second command, one neither the role nor the
    danger check saw: refuse such a value before anything is sent."""
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else None
        if text is None:
            continue
        found = next((s for s in ("\r", "\n", *separators) if s in text), None)
        if found is not None:
            raise InvalidInput(
                f"{command.key}: {name}: the value holds {found!r}, which the device takes as the start "
                "of another command; nothing was sent",
                hint=f"usage: {command.usage()}",
            )


def parse_assignments(args: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`name=value` words from the command line."""
    out: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            raise InvalidInput(f"expected name=value, got {arg!r}")
        if name in out:
            raise InvalidInput(f"parameter {name!r} given twice")
        out[name] = value
    return out


class _WireParams(dict[str, Any]):
    """Parameters keyed by their wire names (what `{{params}}` puts on the wire)
    that also answer to their profile names, so a template may say
    `{{params.connector_id}}` for a parameter sent as `connectorId`."""

    def __init__(self, command: Command, params: dict[str, Any]) -> None:
        self._aliases: dict[str, str] = {}
        for name in params:
            param = command.param(name)
            if param is not None and param.wire_name != name:
                self._aliases[name] = param.wire_name
        super().__init__({self._aliases.get(k, k): v for k, v in params.items()})

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._aliases.get(key, key) if isinstance(key, str) else key)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._aliases.get(key, key))


def _matches(rule: InboundRule, doc: Any) -> bool:
    for cond in rule.match:
        value = resolve(doc, cond.pointer)
        if cond.exists is not None:
            if (value is not MISSING) != cond.exists:
                return False
        elif value is MISSING or value != cond.value or type(value) is bool and type(cond.value) is not bool:
            return False
    return True


def _get(doc: Any, pointer: str | None) -> Any:
    if pointer is None:
        return None
    value = resolve(doc, pointer)
    return None if value is MISSING else value


def _id_key(value: Any) -> Any:
    # JSON-RPC ids may come back as 4 or "4" from sloppy stacks; compare as text
    return None if value is None else str(value)


@dataclass
class _Pending:
    out: Outgoing
    sent_at: float


@dataclass
class ClientCodec:
    profile: Profile
    first_id: int = 1
    #: the wall clock for `{{now}}` (in calls and in answers to device requests)
    #: and the source of uuid4 ids, from the caller: core keeps no clock and no
    #: randomness of its own.  Without a clock `{{now}}` is left out; without an
    #: id source a uuid4 profile cannot call.
    wall: Callable[[], float] | None = None
    new_uuid: Callable[[], str] | None = None
    #: False: the caller answers the device's requests itself (a hub's central
    #: side), so `DeviceRequest.answer` is None and the profile's answer is
    #: never rendered (two templates and a JSON encoding per telemetry message)
    answers: bool = True
    _counter: Any = field(init=False, repr=False)
    _pending: OrderedDict[Any, _Pending] = field(init=False, repr=False)
    _late: OrderedDict[Any, Command] = field(init=False, repr=False)
    #: lockstep calls given up on whose line has not come yet, oldest first;
    #: made on the first debt (an empty deque is 760 bytes, and a hub holds a
    #: codec per device connection)
    _owed: deque[Command] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._templates: dict[str, tuple[Any, bool]] = {}
        self._counter = itertools.count(self.first_id)
        self._pending = OrderedDict()
        self._late = OrderedDict()
        self._owed = None

    # -- sending -------------------------------------------------------------
    def can_send(self) -> bool:
        limit = self.profile.framing.max_in_flight
        return limit == 0 or len(self._pending) < limit

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _new_id(self) -> Any:
        scheme = self.profile.framing.id_scheme
        while True:
            if scheme == "uuid4":
                if self.new_uuid is None:
                    raise InvalidInput(
                        f"{self.profile.id}: uuid4 call ids need an id source (ClientCodec(new_uuid=...))"
                    )
                candidate: Any = self.new_uuid()
            elif scheme == "counter":
                candidate = next(self._counter)
            else:
                return None
            # never reuse an id a reply may still come for
            if _id_key(candidate) not in self._pending and _id_key(candidate) not in self._late:
                return candidate

    def call(self, command: Command, params: dict[str, Any], *, now: float, timeout: float | None = None) -> Outgoing:
        """Frame one checked call and mark it pending.  `params` are already bound."""
        if not self.can_send():
            raise InvalidInput(
                f"{command.key}: {self.profile.framing.max_in_flight} call(s) already in flight (the protocol allows no more)"
            )
        call_id = self._new_id()
        wire_params = _WireParams(command, params)
        render_fn, wants_now = self._template(command)
        context = {"id": call_id, "name": command.name, "params": wire_params}
        if wants_now:
            context["now"] = iso_time(self.wall()) if self.wall is not None else None
        try:
            if self.profile.framing.encoding == "text":
                _refuse_smuggling(command, params, self.profile.framing.separators)
                wire = render_fn({**context, "params": params})
            else:
                wire = dumps(render_fn(context))
        except TemplateError as exc:
            raise InvalidInput(f"{command.key}: {exc}") from None
        out = Outgoing(call_id, command, params, wire, now + (timeout if timeout is not None else command.timeout))
        key = _id_key(call_id) if call_id is not None else object()
        self._pending[key] = _Pending(out, now)
        return out

    def _template(self, command: Command) -> tuple[Any, bool]:
        template = self._templates.get(command.key)
        if template is None:
            key = (id(command), self.profile.framing.encoding)
            shared = _COMPILED.get(key)
            if shared is None or shared[0] is not command:
                if len(_COMPILED) >= MAX_COMPILED:
                    _COMPILED.clear()
                shared = _COMPILED[key] = (command, self._prepare(command))
            template = self._templates[command.key] = shared[1]
        return template

    def _prepare(self, command: Command) -> tuple[Any, bool]:
        wants_now = any(name == "now" for name in placeholders(command.request))
        if self.profile.framing.encoding == "text":
            return (lambda context: render_text(command.request, context)), wants_now
        return compile_template(command.request), wants_now

    def cancel(self, out: Outgoing) -> None:
        """The caller gave up on a call (timeout, cancel): remember its id as late."""
        for key, pending in list(self._pending.items()):
            if pending.out is out:
                del self._pending[key]
                if out.id is not None:
                    self._late[key] = out.command
                    while len(self._late) > LATE_MEMORY:
                        self._late.popitem(last=False)
                elif self.profile.framing.encoding == "text":
                    # no id to recognise the late line by: count it (module docstring)
                    if self._owed is None:
                        self._owed = deque(maxlen=LATE_MEMORY)
                    self._owed.append(out.command)
                return

    # -- receiving -------------------------------------------------------------
    def feed(self, message: str | bytes, *, now: float) -> list[CodecEvent]:
        if self.profile.framing.encoding == "text":
            return self._feed_text(message, now)
        return self._feed_json(message, now)

    def _take(self, raw_id: Any, message: str | bytes) -> tuple[_Pending | None, Unmatched | None]:
        key = _id_key(raw_id)
        pending = self._pending.pop(key, None)
        if pending is not None:
            return pending, None
        late = self._late.pop(key, None)
        if late is not None:
            return None, Unmatched(raw_id, message, f"reply to {late.key} (id {raw_id}) arrived after its timeout")
        return None, Unmatched(raw_id, message, f"reply with id {raw_id!r} matches no pending request")

    def _success(self, command: Command, payload: Any) -> str | None:
        for pointer, expected in command.success:
            got = resolve(payload, pointer)
            if got is MISSING or got != expected:
                shown = "missing" if got is MISSING else json.dumps(got)
                return f"{pointer.lstrip('/') or 'reply'} is {shown}, expected {json.dumps(expected)}"
        if command.success_regex is not None:
            text = str(payload)
            if len(text) > LINE_LIMIT:
                return f"reply of {len(text)} characters is longer than the {LINE_LIMIT} a success regex is checked on"
            if not command.success_regex.search(text):
                return f"reply {_shown(text)} does not match {command.success_regex.pattern!r}"
        return None

    def _feed_json(self, message: str | bytes, now: float) -> list[CodecEvent]:
        try:
            text = message.decode("utf-8") if isinstance(message, bytes) else message
            doc = loads_unicode(text)
        except (
            UnicodeDecodeError,
            ValueError,
            RecursionError,
        ) as exc:  # RecursionError: nested past the parser's limit
            return [Malformed(message, f"not JSON: {str(exc)[:120]}")]
        rule = next((r for r in self.profile.framing.inbound if _matches(r, doc)), None)
        if rule is None:
            return [Malformed(message, "fits no inbound rule of the profile")]
        if rule.kind in ("result", "error"):
            raw_id = _get(doc, rule.id)
            pending, unmatched = self._take(raw_id, message)
            if unmatched is not None:
                if (
                    rule.kind == "error"
                    and raw_id in (None, self.profile.framing.unknown_id)
                    and len(self._pending) == 1
                ):
                    # the device could not read our id (JSON-RPC null id, OCPP "-1"):
                    # with one call in flight the error can only be about it
                    pending = self._pending.popitem()[1]
                else:
                    return [unmatched]
            assert pending is not None  # _take gives one of the two
            command = pending.out.command
            if rule.kind == "error":
                info = DeviceErrorInfo(_get(doc, rule.code), str(_get(doc, rule.message) or ""), _get(doc, rule.detail))
                return [
                    Reply(
                        raw_id, command, None, message, error=info, elapsed=now - pending.sent_at, request=pending.out
                    )
                ]
            payload = _get(doc, rule.payload) if rule.payload else doc
            return [
                Reply(
                    raw_id,
                    command,
                    payload,
                    message,
                    failed_check=self._success(command, payload),
                    elapsed=now - pending.sent_at,
                    request=pending.out,
                )
            ]
        name = str(_get(doc, rule.name))
        payload = _get(doc, rule.payload) if rule.payload else doc
        event = self.profile.event_by_wire(name)
        if rule.kind == "event":
            return [Telemetry(name, event, payload, message)]
        raw_id = _get(doc, rule.id)
        answer = self._answer(raw_id, name, event, payload) if self.answers else None
        return [DeviceRequest(raw_id, name, event, payload, message, answer)]

    def _answer(self, raw_id: Any, name: str, event: Event | None, payload: Any) -> str | None:
        framing = self.profile.framing
        if event is not None and event.reply is not None and framing.result is not None:
            now = iso_time(self.wall()) if self.wall is not None else None
            body = render(event.reply, {"now": now, "payload": payload, "name": name, "id": raw_id}, strict=False)
            return dumps(render(framing.result, {"id": raw_id, "payload": body}))
        if framing.error is not None:
            form = framing.errors["unknown_command"]
            return dumps(
                render(
                    framing.error,
                    {"id": raw_id, "code": form.code, "message": f"{form.message}: {name}", "detail": {}},
                    strict=False,
                )
            )
        return None

    def _feed_text(self, message: str | bytes, now: float) -> list[CodecEvent]:
        if isinstance(message, bytes):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                return [Malformed(message, "binary message that is not UTF-8 text")]
        line = message.rstrip("\r\n")
        framing = self.profile.framing
        seen = head(line)  # the regexes see a bounded head of the line (regex_guard)
        if framing.event_regex is not None and (m := framing.event_regex.match(seen)):
            name = m.groupdict().get("name") or ""
            payload = _group(m, "payload", line) if "payload" in m.groupdict() else line
            return [Telemetry(name, self.profile.event_by_wire(name), payload, message)]
        if self._owed:
            # lockstep: a timed-out call's reply comes before the next call's
            late = self._owed.popleft()
            return [Unmatched(None, message, f"reply to {late.key} arrived after its timeout")]
        if not self._pending:
            return [Unmatched(None, message, "a line arrived while no command was waiting for one")]
        _, pending = self._pending.popitem(last=False)
        command = pending.out.command
        if framing.error_regex is not None and (m := framing.error_regex.match(seen)):
            text = _group(m, "message", line) if "message" in m.groupdict() else None
            info = DeviceErrorInfo(m.groupdict().get("code"), text or line)
            return [Reply(None, command, None, message, error=info, elapsed=now - pending.sent_at, request=pending.out)]
        return [
            Reply(
                None,
                command,
                line,
                message,
                failed_check=self._success(command, line),
                elapsed=now - pending.sent_at,
                request=pending.out,
            )
        ]
