"""The hub's answers to what devices ask, as the profile's `[central]` says.

The hub (wsctl/net/hub) feeds every device call that `ClientCodec.feed` reads as a
`DeviceRequest` to `CentralSide.answer`, and every `Malformed` frame to
`CentralSide.malformed`; it sends `Answer.frame` back, logs `Answer.error`
and maps `Answer.effects` to registry writes.  Pure: the registry is reached
only through the callables of `CentralContext`, time comes in it as text.

Order of checks for a call (the first that fails answers with its error kind,
`[central.errors]`): the frame's shape (frame, message_type), the payload is
an object (payload), the action is known (unknown_action; a declared event
without a central answer: not_supported), the device may make it
(not_approved), the payload's fields (occurrence, type, property).  A callable
that raises is answered with `internal`: a device never crashes the hub.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.central_spec import CentralAnswer, CentralSpec
from wsctl.core.pointer import MISSING, join, resolve
from wsctl.core.profile.events import DeviceRequest, Malformed
from wsctl.core.profile.model import Profile
from wsctl.core.profile.params import short
from wsctl.core.profile.template import TemplateError, compile_template, dumps, render, slots

#: an error description carries at most this much (the value at fault is
#: the device's own and may be long)
DESCRIPTION_LIMIT = 200
#: OCPP-J (`rpc = "ocpp-j"`): a message id is a string of at most this many characters
OCPP_J_ID_LIMIT = 36
#: what the registry (SQLite) keeps of a whole number: a recorded field beyond
#: it is the device's PropertyConstraintViolation, not an OverflowError
INT64 = range(-(2**63), 2**63)
#: id token types that carry no tag of their own (OCPP 2.0.1 NoAuthorization:
#: the idToken is empty): the type's name is looked up instead, so that
#: `wsctl hub id-tags add NoAuthorization` lets free-charging stations charge
TYPE_TAGS = frozenset({"NoAuthorization"})


@dataclass(frozen=True)
class CentralContext:
    device_id: str
    #: registry status of the device: "approved" | "pending" | "blocked" | "unknown"
    status: str
    #: ISO 8601 UTC time for currentTime/timestamps, from the caller
    now: str
    #: registry allow-list: "Accepted" | "Blocked" | "Expired" | "Invalid"
    id_tag_status: Callable[[str], str]
    #: the record fields of a `transaction = "start"` answer -> new transaction id
    start_transaction: Callable[[dict[str, Any]], int]
    #: the record fields of a `transaction = "stop"` answer -> was the id known?
    stop_transaction: Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Effect:
    """What the hub must keep or record after answering; kinds and fields in
    docs/profiles.md ("Effects")."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    #: the frame to send back (result or error); None: send nothing
    frame: str | None
    effects: tuple[Effect, ...]
    #: why an error was sent (the hub logs it)
    error: str | None = None


class _Refused(Exception):
    """A device call the hub answers with an error of `kind`."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


@dataclass(frozen=True)
class _FrameShape:
    """A device call's shape, read from the framing's `device_request` template
    (the OCPP CALL [2,id,name,payload]): container, length, literals, slots."""

    container: type
    length: int | None
    literals: tuple[tuple[tuple[str, ...], Any], ...]
    id: tuple[str, ...] | None
    name: tuple[str, ...] | None
    payload: tuple[str, ...] | None
    #: the id is a string of 1 to this many characters (OCPP-J); None: a string or a number
    id_limit: int | None = None

    @classmethod
    def of(cls, template: Any, id_limit: int | None = None) -> _FrameShape:
        literals, where = [], {}
        for path, placeholder, literal in slots(template):
            if placeholder is None:
                literals.append((path, literal))
            else:
                where[placeholder] = path
        return cls(
            container=type(template),
            length=len(template) if isinstance(template, list) else None,
            literals=tuple(literals),
            id=where.get("id"),
            name=where.get("name"),
            payload=where.get("payload"),
            id_limit=id_limit,
        )

    def read_id(self, doc: Any) -> Any:
        value = resolve(doc, self.id) if self.id is not None else MISSING
        if self.id_limit is not None:
            return value if isinstance(value, str) and 0 < len(value) <= self.id_limit else MISSING
        return value if isinstance(value, (str, int)) and not isinstance(value, bool) else MISSING

    def check(self, doc: Any) -> tuple[Any, str, dict[str, Any]]:
        """(id, name, payload) of a well-formed call, else _Refused."""
        wrong_length = self.length is not None and not (isinstance(doc, list) and len(doc) == self.length)
        if type(doc) is not self.container or wrong_length:
            shape = f"an array of {self.length}" if self.length is not None else "an object"
            raise _Refused("frame", f"a call is {shape}, got {short(dumps(doc))}")
        for path, literal in self.literals:
            got = resolve(doc, path)
            if got != literal or type(got) is not type(literal):
                shown = "missing" if got is MISSING else short(dumps(got))
                raise _Refused("message_type", f"the frame's {join(path)} is {shown}, a call has {dumps(literal)}")
        call_id = self.read_id(doc)
        if call_id is MISSING:
            kind = f"a string of 1 to {self.id_limit} characters" if self.id_limit else "a string"
            raise _Refused("frame", f"the call has no message id ({kind}) to answer to")
        name = resolve(doc, self.name) if self.name is not None else MISSING
        if not isinstance(name, str) or not name:
            raise _Refused("frame", "the call names no action")
        payload = resolve(doc, self.payload) if self.payload is not None else {}
        if payload is MISSING and self.length is None:
            payload = {}  # JSON-RPC may leave params out
        if not isinstance(payload, dict):
            raise _Refused("payload", f"the payload of {name} is not an object")
        return call_id, name, payload


class CentralSide:
    """Answers device calls for one profile; one instance serves every device."""

    def __init__(self, profile: Profile) -> None:
        spec = profile.central
        if spec is None:
            raise InvalidInput(f"profile {profile.id} has no [central] table: the hub cannot answer its devices")
        self.profile = profile
        self.spec: CentralSpec = spec
        framing = profile.framing
        id_limit = OCPP_J_ID_LIMIT if spec.rpc == "ocpp-j" else None
        self._shape = _FrameShape.of(framing.device_request, id_limit)
        self._reply_shapes = [_FrameShape.of(t) for t in (framing.result, framing.error) if t is not None]
        # every telemetry message of every device is answered with these: their
        # placeholders are found once (`compile_template`), not in each `render`
        self._replies = {id(a): compile_template(a.reply, strict=False) for a in spec.answers.values()}
        self._result = compile_template(framing.result)

    # -- entry points ------------------------------------------------------------
    def answer(self, request: DeviceRequest, ctx: CentralContext) -> Answer:
        try:
            doc = _decode(request.raw)
        except _Refused as refused:
            return self._refuse(self.profile.framing.unknown_id, refused)
        call_id = self._shape.read_id(doc)
        reply_id = self.profile.framing.unknown_id if call_id is MISSING else call_id
        try:
            call_id, name, payload = self._shape.check(doc)
            answer = self._answer_for(name)
            if ctx.status != "approved" and not answer.always:
                raise _Refused("not_approved", f"{ctx.device_id} is {ctx.status}, not approved: {name} refused")
            _check_fields(answer, payload)
            return self._run(answer, call_id, payload, ctx)
        except _Refused as refused:
            return self._refuse(reply_id, refused)

    def malformed(self, event: Malformed, ctx: CentralContext) -> Answer | None:
        """The protocol's error for a frame that is not a call; None when it has
        none (the frame looks like a reply, or the framing has no error form)."""
        try:
            doc = _decode(event.raw)
        except _Refused as refused:
            return self._refuse(self.profile.framing.unknown_id, refused)
        if any(_fits_literals(s, doc) for s in self._reply_shapes) and not _fits_literals(self._shape, doc):
            # an answer is never answered, not even a broken one (OCPP's 3 and 4;
            # JSON-RPC's replies and calls share their literal, so they are calls)
            return None
        call_id = self._shape.read_id(doc)
        reply_id = self.profile.framing.unknown_id if call_id is MISSING else call_id
        try:
            self._shape.check(doc)
        except _Refused as refused:
            return self._refuse(reply_id, refused)
        return self._refuse(reply_id, _Refused("frame", f"not a call this hub reads: {event.reason}"))

    # -- answering ---------------------------------------------------------------
    def _answer_for(self, name: str) -> CentralAnswer:
        answer = self.spec.answers.get(name)
        if answer is not None:
            return answer
        if self.profile.event_by_wire(name) is not None:
            raise _Refused("not_supported", f"{name} is known, but the hub does not answer it")
        raise _Refused("unknown_action", f"unknown action {short(name)}")

    def _run(self, answer: CentralAnswer, call_id: Any, payload: dict[str, Any], ctx: CentralContext) -> Answer:
        fields = {name: _value(payload, pointer) for name, pointer in answer.record}
        for name, value in fields.items():
            if type(value) is int and value not in INT64:
                raise _Refused("property", f"{answer.name}: {name} {short(value)} does not fit 64 bits")
        # the transaction callables get the record fields the profile names, nothing added
        recorded = dict(fields)
        context: dict[str, Any] = {"now": ctx.now, "device": ctx.device_id, "payload": payload}
        if self.spec.boot_status:
            context["boot_status"] = self.spec.boot_status.get(ctx.status, self.spec.boot_status["unknown"])
            if context["boot_status"] in self.spec.interval:
                context["interval"] = self.spec.interval[context["boot_status"]]
        if answer.authorize is not None:
            id_tag = resolve(payload, answer.authorize)
            kind = resolve(payload, answer.authorize_type) if answer.authorize_type is not None else None
            if isinstance(kind, str) and kind in TYPE_TAGS:
                id_tag = kind
            if isinstance(id_tag, str):
                status = _call(ctx.id_tag_status, id_tag, "id_tag_status")
                context["id_tag_status"], context["id_tag_info"] = status, {"status": status}
                fields.update(id_tag=id_tag, id_tag_status=status)
        # last: once the registry holds a new transaction nothing else may fail,
        # or the charger's retry would start a second one
        if answer.transaction is not None:
            fields.update(_transaction(answer.transaction, recorded, ctx))
            context["transaction_id"] = fields["transaction_id"]
        if answer.effect == "boot":
            fields.update(boot_status=context["boot_status"], interval=context.get("interval"))
        try:
            body = self._replies[id(answer)](context)
            frame = dumps(self._result({"id": call_id, "payload": body}))
        except (TemplateError, ValueError, TypeError, RecursionError) as exc:
            raise _Refused("internal", f"the reply to {answer.name} could not be written: {exc}") from None
        effects = (Effect(answer.effect, fields),) if answer.effect is not None else ()
        return Answer(frame, effects)

    def _refuse(self, reply_id: Any, refused: _Refused) -> Answer:
        framing = self.profile.framing
        if framing.error is None:
            return Answer(None, (), refused.why)
        form = self.spec.errors[refused.kind]
        description = refused.why if len(refused.why) <= DESCRIPTION_LIMIT else refused.why[:DESCRIPTION_LIMIT] + "..."
        context = {"id": reply_id, "code": form.code, "message": description, "detail": {}}
        return Answer(dumps(render(framing.error, context, strict=False)), (), f"{form.code}: {refused.why}")


def reply_problem(profile: Profile, raw: str | bytes) -> str | None:
    """Why a device's reply to the hub's call breaks its profile's RPC rules
    (`rpc = "ocpp-j"`: a CALLRESULT of 3 elements with an object payload, a
    CALLERROR of 5 with string code and description and object details, the
    id a string of 1 to 36 characters), or None.  Read only for replies to
    calls, never for what the device asks."""
    spec = profile.central
    if spec is None or spec.rpc != "ocpp-j":
        return None
    try:
        doc = _decode(raw)
    except _Refused as refused:
        return refused.why
    if not isinstance(doc, list) or not doc:
        return "not an array"
    if doc[0] == 3:
        if len(doc) != 3:
            return f"a CALLRESULT has 3 elements, not {len(doc)}"
        if not isinstance(doc[2], dict):
            return "the CALLRESULT's payload is not an object"
    elif len(doc) != 5:
        return f"a CALLERROR has 5 elements, not {len(doc)}"
    elif not (isinstance(doc[2], str) and isinstance(doc[3], str)):
        return "the CALLERROR's code and description are not strings"
    elif not isinstance(doc[4], dict):
        return "the CALLERROR's details are not an object"
    if not (isinstance(doc[1], str) and 0 < len(doc[1]) <= OCPP_J_ID_LIMIT):
        return f"its message id is not a string of 1 to {OCPP_J_ID_LIMIT} characters"
    return None


def _decode(raw: str | bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refused("frame", f"not JSON: {str(exc)[:80]}") from None


def _fits_literals(shape: _FrameShape, doc: Any) -> bool:
    if type(doc) is not shape.container:
        return False
    return bool(shape.literals) and all(
        (got := resolve(doc, path)) == literal and type(got) is type(literal) for path, literal in shape.literals
    )


def _value(payload: dict[str, Any], pointer: str) -> Any:
    value = resolve(payload, pointer)
    return None if value is MISSING else value


def _check_fields(answer: CentralAnswer, payload: dict[str, Any]) -> None:
    for pointer, rule in answer.checks:
        value = resolve(payload, pointer)
        if value is MISSING:
            if rule.required:
                raise _Refused("occurrence", f"{answer.name}: {rule.name} is missing")
            continue
        if not rule.fits_type(value):
            raise _Refused("type", f"{answer.name}: {rule.name} must be {rule.type}, got {short(dumps(value))}")
        try:
            rule.check(value, where=f"{answer.name}: ")
        except InvalidInput as exc:
            raise _Refused("property", exc.message) from None


def _call(fn: Callable[[Any], Any], arg: Any, what: str) -> Any:
    try:
        return fn(arg)
    except Exception as exc:  # the registry's trouble is answered, not a crash of the device's connection
        raise _Refused("internal", f"{what} failed: {type(exc).__name__}: {short(str(exc))}") from None


def _transaction(mode: str, fields: dict[str, Any], ctx: CentralContext) -> dict[str, Any]:
    """The transaction effect's own fields: event, transaction_id, assigned_by (and known)."""
    if mode == "start":
        new_id = _call(ctx.start_transaction, fields, "start_transaction")
        return {"event": "started", "transaction_id": new_id, "assigned_by": "hub"}
    if mode == "stop":
        known = _call(ctx.stop_transaction, fields, "stop_transaction")
        return {
            "event": "ended",
            "transaction_id": fields["transaction_id"],
            "assigned_by": "hub",
            "known": bool(known),
        }
    event = fields.get("event")
    event = event.lower() if isinstance(event, str) else "updated"
    return {"event": event, "transaction_id": fields["transaction_id"], "assigned_by": "station"}
