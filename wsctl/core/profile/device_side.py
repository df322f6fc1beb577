"""The device's side of a profile, sans-I/O: read requests, write replies.

The simulator (and anything else that plays the device) feeds every inbound
message to `DeviceCodec.parse`, which returns one of

  Request     a well-formed call of a known command, parameters checked
              against the command's schema and keyed by profile name
  BadRequest  anything else; `reply` is the protocol's own error form to send
              back (JSON-RPC error object, OCPP CALLERROR, `ERR ...` line), or
              None when the protocol forbids an answer (a JSON-RPC
              notification)
  Response    the other side answering a call the device made (OCPP
              BootNotification and friends)

Requests are read by the same templates the client writes them with
(`template.slots`): placeholders say where the id, name and parameters are,
literals (`"jsonrpc": "2.0"`, OCPP's leading 2) must be there.  A command with
its own `request` template is recognised by that template first.

Ids of requests still being worked on are remembered until `finish(id)`, so a
second request with the same id is refused instead of silently confusing the
client's correlation.  Device-initiated calls follow OCPP's rule of one
outstanding call per direction: `device_call` queues behind the outstanding
one, `due(now)` hands out the next when it was answered or timed out.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.profile.model import Command, Event, InboundRule, Profile
from wsctl.core.profile.regex_guard import LINE_LIMIT
from wsctl.core.profile.template import dumps, render, render_text, slots, text_pattern
from wsctl.core.unicode_text import loads_unicode

#: device calls waiting behind the outstanding one; beyond this the oldest is
#: dropped (a charger buffering meter values while its central system is slow)
CALL_QUEUE_LIMIT = 100


@dataclass(frozen=True)
class Request:
    id: Any
    command: Command
    params: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class BadRequest:
    reply: str | None
    reason: str
    kind: str
    id: Any = None
    raw: str = ""
    #: the command, when it was recognised (bad parameters)
    command: Command | None = None


@dataclass(frozen=True)
class Response:
    id: Any
    ok: bool
    payload: Any = None
    code: Any = None
    message: str | None = None
    #: the device call it answers; None when nothing was outstanding with that id
    event: Event | None = None
    raw: str = ""


@dataclass
class _Call:
    id: Any
    event: Event
    wire: str
    deadline: float = 0.0


@dataclass(frozen=True)
class _Reader:
    """How one request template is read back: container shape, literals, slots."""

    shape: type
    length: int | None
    literals: tuple[tuple[tuple[str, ...], Any], ...]
    id: tuple[str, ...] | None
    name: tuple[str, ...] | None
    params: tuple[str, ...] | None
    param_slots: tuple[tuple[str, tuple[str, ...]], ...]
    #: set for a command's own template; None for the framing's shared one
    command: Command | None = None


def _reader(template: Any, command: Command | None) -> _Reader:
    literals, param_slots = [], []
    where: dict[str, tuple[str, ...]] = {}
    for path, placeholder, literal in slots(template):
        if placeholder is None:
            literals.append((path, literal))
        elif placeholder in ("id", "name", "params"):
            where[placeholder] = path
        elif placeholder.startswith("params."):
            param_slots.append((placeholder[7:], path))
    return _Reader(
        shape=type(template),
        length=len(template) if isinstance(template, list) else None,
        literals=tuple(literals),
        id=where.get("id"),
        name=where.get("name"),
        params=where.get("params"),
        param_slots=tuple(param_slots),
        command=command,
    )


_Readers = tuple[list[_Reader], _Reader | None, list[tuple[Command, re.Pattern[str], tuple[str, ...]]]]
#: what a profile's requests are read by, per profile (by identity; the
#: profile is kept with them, so an id is never reused while cached): derived
#: from the profile alone, so every connection's codec shares them
_readers_of: dict[int, tuple[Profile, _Readers]] = {}


def _readers(profile: Profile) -> _Readers:
    cached = _readers_of.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    own: list[_Reader] = []
    shared: _Reader | None = None
    patterns: list[tuple[Command, re.Pattern[str], tuple[str, ...]]] = []
    if profile.framing.encoding == "text":
        for command in profile.commands.values():
            # made when the profile loaded; a Command built by hand gets one here
            pattern, names = command.reader or text_pattern(str(command.request), {"name": command.name})
            patterns.append((command, pattern, names))
    else:
        shared = _reader(profile.framing.request, None)
        for command in profile.commands.values():
            if command.request != profile.framing.request:
                own.append(_reader(command.request, command))
        # most literals first: the most specific template wins
        own.sort(key=lambda r: -len(r.literals))
    if len(_readers_of) >= 256:
        _readers_of.clear()  # profiles loaded again and again (tests): start over
    _readers_of[id(profile)] = (profile, (own, shared, patterns))
    return own, shared, patterns


def _key(value: Any) -> str:
    # 1 and "1" are different JSON-RPC ids; dicts are not hashable
    return dumps(value)


class DeviceCodec:
    """Per connection: ids in progress and device calls are this peer's."""

    def __init__(
        self, profile: Profile, *, call_timeout: float | None = None, new_uuid: Callable[[], str] | None = None
    ) -> None:
        self.profile = profile
        #: the id source for a uuid4 profile's device calls, from the caller (core has
        #: no randomness of its own); without one, calls are numbered dev-1, dev-2 ...
        self.new_uuid = new_uuid
        self.framing = profile.framing
        self.text = self.framing.encoding == "text"
        self.call_timeout = call_timeout if call_timeout is not None else profile.default_timeout
        self._in_progress: set[str] = set()
        self._outstanding: _Call | None = None
        #: device calls waiting behind the outstanding one; made on the first
        #: (an empty deque is 760 bytes, and a simulator has a codec per connection)
        self._queue: deque[_Call] | None = None
        self._counter = itertools.count(1)
        self._own, self._shared, self._patterns = _readers(profile)

    # -- reading ---------------------------------------------------------------
    def parse(self, message: str | bytes) -> Request | BadRequest | Response:
        if isinstance(message, (bytes, bytearray)):
            try:
                message = bytes(message).decode("utf-8")
            except UnicodeDecodeError as exc:
                return self._bad(
                    "parse",
                    f"binary frame is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                    raw=repr(message[:64]),
                )
        if self.text:
            return self._parse_text(message)
        try:
            doc = loads_unicode(message)  # a lone surrogate would fail whatever answers, audits or records it
        except ValueError as exc:
            return self._bad("parse", f"not JSON: {exc}", raw=message)
        except RecursionError:
            return self._bad("parse", "not JSON this device reads: nested too deeply", raw=message)
        return self.read(doc, message)

    def read(self, doc: Any, raw: str) -> Request | BadRequest | Response:
        """`parse` for a JSON document the caller decoded itself (the proxy's gate
        decodes strictly first); ``raw`` is the message it came from."""
        response = self._response(doc, raw)
        if response is not None:
            return response
        return self._parse_json(doc, raw)

    def kinds(self, doc: Any) -> set[str]:
        """Every kind the protocol's rules read a JSON document as, not only the
        first that matches: ``result``, ``error``, ``call`` (a request or a
        notification: something the receiver acts on).  More than one means
        receivers that test the rules in another order read different messages."""
        found = {"call" if r.kind in ("request", "event") else r.kind for r in self.framing.inbound if _matches(r, doc)}
        if any(self._fits(r, doc) for r in self._own) or (not self._call_rules and self._names_a_call(doc)):
            found.add("call")
        return found

    @property
    def _call_rules(self) -> bool:
        return any(r.kind in ("request", "event") for r in self.framing.inbound)

    def _names_a_call(self, doc: Any) -> bool:
        # without request rules the shared template is the only description of
        # a call: its name slot is there and no literal present contradicts it
        reader = self._shared
        if (
            reader is None
            or reader.name is None
            or not isinstance(doc, reader.shape)
            or resolve(doc, reader.name) is MISSING
        ):
            return False
        return all(resolve(doc, path) in (MISSING, literal) for path, literal in reader.literals)

    def _bad(
        self,
        kind: str,
        reason: str,
        *,
        id: Any = MISSING,
        raw: str = "",
        command: Command | None = None,
        reply: bool = True,
    ) -> BadRequest:
        reply_id = self.framing.unknown_id if id is MISSING else id
        wire = self.error(reply_id, kind, reason) if reply else None
        return BadRequest(
            reply=wire, reason=reason, kind=kind, id=None if id is MISSING else id, raw=raw, command=command
        )

    def _response(self, doc: Any, raw: str) -> Response | None:
        rule = next((r for r in self.framing.inbound if r.kind in ("result", "error") and _matches(r, doc)), None)
        if rule is None:
            return None
        rid = resolve(doc, rule.id) if rule.id else None
        rid = None if rid is MISSING else rid
        event = None
        if self._outstanding is not None and rid is not None and _key(rid) == _key(self._outstanding.id):
            event = self._outstanding.event
            self._outstanding = None
        if rule.kind == "result":
            payload = resolve(doc, rule.payload) if rule.payload else None
            return Response(id=rid, ok=True, payload=None if payload is MISSING else payload, event=event, raw=raw)
        code = resolve(doc, rule.code) if rule.code else None
        text = resolve(doc, rule.message) if rule.message else None
        detail = resolve(doc, rule.detail) if rule.detail else None
        return Response(
            id=rid,
            ok=False,
            payload=None if detail is MISSING else detail,
            code=None if code is MISSING else code,
            message=None if text is MISSING else str(text),
            event=event,
            raw=raw,
        )

    def _parse_json(self, doc: Any, raw: str) -> Request | BadRequest:
        reader = next((r for r in self._own if self._fits(r, doc)), None)
        if reader is None:
            reader = self._shared
            assert reader is not None
            if not isinstance(doc, reader.shape):
                return self._bad(
                    "invalid_request",
                    f"expected a JSON {_shape_name(reader.shape)}, got {_shape_name(type(doc))}",
                    raw=raw,
                )
        rid: Any = MISSING
        if reader.id is not None:
            rid = resolve(doc, reader.id)
            if rid is not MISSING and (isinstance(rid, bool) or not isinstance(rid, (str, int))):
                return self._bad(
                    "invalid_request", f"request id must be a string or an integer, got {dumps(rid)}", raw=raw
                )
        problem = _envelope_problem(reader, doc)
        if problem is not None:
            return self._bad("invalid_request", problem, id=rid, raw=raw)
        if rid is MISSING and reader.id is not None:
            # JSON-RPC: a request without an id is a notification, and the
            # server must not answer it — nor can it, having no id to answer to
            return self._bad(
                "invalid_request", "request without an id (a notification): not answered", raw=raw, reply=False
            )
        command = reader.command
        if command is None:
            found = self._named_command(reader, doc, rid, raw)
            if isinstance(found, BadRequest):
                return found
            command = found
        given = self._given_params(reader, doc, command, rid, raw)
        if isinstance(given, BadRequest):
            return given
        return self._request(rid if reader.id is not None else None, command, given, raw, from_text=False)

    def _named_command(self, reader: _Reader, doc: Any, rid: Any, raw: str) -> Any:
        """The shared reader's command, by the name in the request, or the BadRequest saying why not."""
        name = resolve(doc, reader.name) if reader.name is not None else MISSING
        if not isinstance(name, str):
            got = "nothing" if name is MISSING else dumps(name)
            return self._bad("invalid_request", f"command name must be a string, got {got}", id=rid, raw=raw)
        command = self._shared_command(name)
        if command is None:
            return self._bad("unknown_command", f"unknown command {name!r}", id=rid, raw=raw)
        return command

    def _given_params(self, reader: _Reader, doc: Any, command: Any, rid: Any, raw: str) -> dict[str, Any] | BadRequest:
        """The request's parameters by profile name (not yet checked), or the BadRequest saying why not."""
        given: dict[str, Any] = {}
        if reader.params is not None:
            wire = resolve(doc, reader.params)
            if wire is MISSING or wire is None:
                wire = {}
            if not isinstance(wire, dict):
                return self._bad(
                    "invalid_params",
                    f"parameters must be an object (by name), got {dumps(wire)}",
                    id=rid,
                    raw=raw,
                    command=command,
                )
            by_wire = {p.wire_name: p.name for p in command.params}
            wire_name: str
            for wire_name, value in wire.items():
                given[by_wire.get(wire_name, wire_name)] = value
        for name, path in reader.param_slots:
            value = resolve(doc, path)
            if value is not MISSING:
                given[name] = value
        return given

    def _fits(self, reader: _Reader, doc: Any) -> bool:
        if not isinstance(doc, reader.shape):
            return False
        if reader.length is not None and len(doc) != reader.length:  # type: ignore[arg-type]  # shape is a sized container
            return False
        for path, literal in reader.literals:
            found = resolve(doc, path)
            if found is MISSING or found != literal:
                return False
        if reader.name is not None:
            return reader.command is not None and bool(resolve(doc, reader.name) == reader.command.name)
        return True

    def _shared_command(self, name: str) -> Command | None:
        command = self.profile.command(name)
        # a command with its own template is only reached through it
        if command is None or command.name != name or command.request != self.framing.request:
            return None
        return command

    def _parse_text(self, line: str) -> Request | BadRequest:
        stripped = line.strip()
        if not stripped:
            return self._bad("parse", "empty line", raw=line)
        if len(stripped) > LINE_LIMIT:
            # no command line is that long; and reading it is work a peer could repeat
            return self._bad("parse", f"a line of {len(stripped)} characters (at most {LINE_LIMIT})", raw=line[:200])
        for command, pattern, names in self._patterns:
            match = pattern.fullmatch(stripped)
            if match:
                given = dict(zip(names, match.groups(), strict=True))
                return self._request(None, command, given, line, from_text=True)
        word = stripped.split()[0]
        usage_of = next(
            (
                c
                for c in self.profile.commands.values()
                if str(c.request).split(" ")[0].replace("{{name}}", c.name) == word
            ),
            None,
        )
        if usage_of is not None:
            return self._bad("invalid_params", f"usage: {usage_of.usage()}", raw=line, command=usage_of)
        return self._bad("unknown_command", f"unknown command {word!r}", raw=line)

    def _request(
        self, rid: Any, command: Command, given: dict[str, Any], raw: str, *, from_text: bool
    ) -> Request | BadRequest:
        if rid is not None and _key(rid) in self._in_progress:
            return self._bad(
                "invalid_request",
                f"id {dumps(rid)} is still in progress (id collision)",
                id=rid,
                raw=raw,
                command=command,
            )
        try:
            params = _bind(command, given, from_text=from_text)
        except InvalidInput as exc:
            return self._bad(
                "invalid_params", exc.message, id=MISSING if rid is None else rid, raw=raw, command=command
            )
        if rid is not None:
            self._in_progress.add(_key(rid))
        return Request(id=rid, command=command, params=params, raw=raw)

    def finish(self, rid: Any) -> None:
        """The request's reply was sent (or deliberately dropped): its id is free again."""
        if rid is not None:
            self._in_progress.discard(_key(rid))

    @property
    def in_progress(self) -> int:
        return len(self._in_progress)

    # -- writing ---------------------------------------------------------------
    def result(self, rid: Any, payload: Any, *, now: float | None = None) -> str:
        if self.text:
            return render_text(
                str(self.framing.result), {"payload": "" if payload is None else payload, "id": rid or ""}
            )
        return dumps(render(self.framing.result, {"id": rid, "payload": payload if payload is not None else {}}))

    def error(self, rid: Any, kind: str, message: str | None = None, detail: Any = None) -> str:
        """The protocol's error form for an abstract kind (framing.errors)."""
        form = self.framing.errors[kind]
        text = f"{form.message}: {message}" if message else form.message
        context = {
            "id": rid if rid is not None else "",
            "code": form.code,
            "message": text,
            "detail": detail if detail is not None else {},
        }
        if self.text:
            return render_text(str(self.framing.error), context).replace("\n", " ")
        context["id"] = rid
        return dumps(render(self.framing.error, context))

    def has_notifications(self) -> bool:
        return self.framing.event is not None

    def event(self, event: Event, payload: Any) -> str:
        """An unsolicited message (JSON-RPC notification, `#EVT` line)."""
        if self.framing.event is None:
            raise ValueError(f"{self.profile.id}: framing has no notification form; send {event.name} as a device call")
        context = {"name": event.name, "payload": payload if payload is not None else {}}
        if self.text:
            return render_text(str(self.framing.event), context)
        return dumps(render(self.framing.event, context))

    def device_call(self, event: Event, payload: Any, *, now: float) -> tuple[Any, str] | None:
        """A call the device makes (OCPP BootNotification ...): (id, wire) to send
        now, or None when it was queued behind the outstanding call."""
        if self.framing.device_request is None:
            raise ValueError(f"{self.profile.id}: framing has no device_request form")
        uuid4 = self.framing.id_scheme == "uuid4" and self.new_uuid is not None
        call_id = self.new_uuid() if uuid4 and self.new_uuid is not None else f"dev-{next(self._counter)}"
        context = {"id": call_id, "name": event.name, "payload": payload if payload is not None else {}}
        call = _Call(call_id, event, dumps(render(self.framing.device_request, context)))
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(call)
        while len(queue) > CALL_QUEUE_LIMIT:
            queue.popleft()
        sent = self.due(now)
        return sent[0] if sent else None

    def due(self, now: float) -> list[tuple[Any, str]]:
        """The next queued device call, if nothing is outstanding any more (it was
        answered, or its timeout passed: a lost answer must not block the device)."""
        if self._outstanding is not None and now >= self._outstanding.deadline:
            self._outstanding = None
        if self._outstanding is not None or not self._queue:
            return []
        call = self._queue.popleft()
        call.deadline = now + self.call_timeout
        self._outstanding = call
        return [(call.id, call.wire)]

    @property
    def outstanding(self) -> Any:
        """Id of the device call waiting for its answer, or None."""
        return None if self._outstanding is None else self._outstanding.id


def _bind(command: Command, given: dict[str, Any], *, from_text: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in given.items():
        param = command.param(name)
        if param is None:
            known = ", ".join(p.wire_name for p in command.params) or "none"
            raise InvalidInput(f"{command.name}: unknown parameter {name!r} (parameters: {known})")
        out[name] = (
            param.parse(value, where=f"{command.name}: ")
            if from_text
            else param.check(value, where=f"{command.name}: ")
        )
    for param in command.params:
        if param.name not in out:
            if param.default is not MISSING:
                out[param.name] = param.default
            elif param.required:
                raise InvalidInput(f"{command.name}: missing parameter {param.wire_name!r} ({param.describe()})")
    return out


def _matches(rule: InboundRule, doc: Any) -> bool:
    for m in rule.match:
        found = resolve(doc, m.pointer)
        if m.exists is not None:
            if (found is not MISSING) != m.exists:
                return False
        elif found is MISSING or found != m.value or isinstance(found, bool) != isinstance(m.value, bool):
            return False
    return True


def _shape_name(shape: type) -> str:
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(shape, shape.__name__)


def _envelope_problem(reader: _Reader, doc: Any) -> str | None:
    """What is wrong with a request's fixed parts (its length, its literal fields), or None."""
    if reader.length is not None and len(doc) != reader.length:
        return f"expected {reader.length} elements, got {len(doc)}"
    for path, literal in reader.literals:
        found = resolve(doc, path)
        if found is MISSING or found != literal or type(found) is not type(literal):
            got = "nothing" if found is MISSING else dumps(found)
            return f"{'/' + '/'.join(path)} must be {dumps(literal)}, got {got}"
    return None
