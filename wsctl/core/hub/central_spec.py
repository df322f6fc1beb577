"""The `[central]` table of a profile: how the hub answers what a device asks.

A profile's `[events]` of kind "request" say which calls a device makes; its
`[central]` says, per event, what the hub answers (a reply template), which
registry status gets which boot answer, which request fields feed the effect
the hub records, which field is an id tag to look up in the allow-list, and
whether the call starts or stops a transaction.  Format in docs/profiles.md
("`[central]`"); `wsctl.core.hub.central.CentralSide` runs it.

Parsed by `wsctl.core.profile.loader` (one call) with the loader's own checker,
so a mistake is reported like every other profile error, with its field path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsctl.core.pointer import join
from wsctl.core.profile.model import Event, Framing
from wsctl.core.profile.params import Param, parse_param
from wsctl.core.profile.template import FILTERS, placeholder_filters

if TYPE_CHECKING:
    from wsctl.core.profile.loader import _Checker

#: what the hub records after answering (`Effect.kind`); docs/profiles.md says
#: which fields each carries
EFFECT_KINDS = (
    "boot",
    "heartbeat",
    "status",
    "meter",
    "authorize",
    "transaction",
    "security_event",
    "report",
    "notification",
)
#: start / stop: the hub numbers transactions (OCPP 1.6); report: the device
#: does and tells the hub (OCPP 2.0.1 TransactionEvent)
TRANSACTIONS = ("start", "stop", "report")
#: the record fields each transaction mode needs
TRANSACTION_FIELDS = {
    "start": ("id_tag", "connector_id", "meter_start"),
    "stop": ("transaction_id", "meter_stop"),
    "report": ("transaction_id", "event"),
}
#: a device's status in the hub's registry (CentralContext.status)
REGISTRY_STATUSES = ("approved", "pending", "blocked", "unknown")
#: why a device call is refused -> the framing's error kind used when
#: `[central.errors]` does not name a code of its own
ERROR_DEFAULTS = {
    "frame": "invalid_request",
    "message_type": "invalid_request",
    "payload": "invalid_params",
    "unknown_action": "unknown_command",
    "not_supported": "unknown_command",
    "occurrence": "invalid_params",
    "type": "invalid_params",
    "property": "invalid_params",
    "not_approved": "not_authorized",
    "internal": "internal",
}
#: what a reply template may name
REPLY_NAMES = ("now", "device", "payload", "boot_status", "interval", "id_tag_status", "id_tag_info", "transaction_id")
CENTRAL_KEYS = {"boot_status", "interval", "errors", "answers", "rpc"}
ANSWER_KEYS = {"reply", "always", "effect", "record", "authorize", "authorize_type", "transaction", "check"}
#: `rpc`: the RPC framework's own rules on top of the framing.  "ocpp-j": a
#: message id is a string of 1 to 36 characters; a CALLRESULT is [3, id,
#: {payload}], a CALLERROR [4, id, "code", "description", {details}]
RPC_RULES = ("ocpp-j",)


@dataclass(frozen=True)
class CentralError:
    code: Any
    message: str


@dataclass(frozen=True)
class CentralAnswer:
    """How the hub answers one device call (`[central.answers.EVENT]`)."""

    event: str
    name: str
    reply: Any
    #: answered whatever the device's registry status (BootNotification); every
    #: other call of a device that is not approved gets errors.not_approved
    always: bool
    effect: str | None
    #: effect field -> JSON pointer into the request payload
    record: tuple[tuple[str, str], ...]
    #: pointer to the id tag looked up in the registry's allow-list
    authorize: str | None
    transaction: str | None
    #: (pointer, rule) the payload must satisfy: the event's fields, then `check`
    checks: tuple[tuple[str, Param], ...]
    #: pointer to the id token's type: a token of a type in `TYPE_TAGS` carries
    #: no tag of its own, the type's name is looked up instead
    authorize_type: str | None = None


@dataclass(frozen=True)
class CentralSpec:
    #: registry status -> boot answer ({} when the profile answers no boot)
    boot_status: dict[str, str]
    #: boot answer -> interval in seconds
    interval: dict[str, int]
    errors: dict[str, CentralError]
    #: by wire name (the action a device sends)
    answers: dict[str, CentralAnswer]
    #: the RPC framework's rules (`RPC_RULES`), or None: the framing's alone
    rpc: str | None = None


def parse_central(c: _Checker, table: Any, events: dict[str, Event], framing: Framing) -> CentralSpec | None:
    if table is None:
        return None
    table = c.table(table, "central", CENTRAL_KEYS)
    if framing.encoding != "json" or framing.device_request is None or framing.result is None:
        raise c.fail("central", "the central side needs a JSON framing with device_request and result templates")
    boot_status = _boot_status(c, table.get("boot_status"))
    interval = _interval(c, table.get("interval"), boot_status)
    answers: dict[str, CentralAnswer] = {}
    for key, spec in c.table(table.get("answers"), "central.answers").items():
        answer = _answer(c, key, spec, events, boot_status, interval)
        answers[answer.name] = answer
    if not answers:
        raise c.fail("central.answers", "missing: at least one [central.answers.EVENT] (what the hub answers)")
    rpc = c.str_(table, "rpc", "central")
    if rpc is not None and rpc not in RPC_RULES:
        raise c.fail("central.rpc", f"expected one of {', '.join(RPC_RULES)}, got {rpc!r}")
    return CentralSpec(
        boot_status=boot_status,
        interval=interval,
        errors=_errors(c, table.get("errors"), framing),
        answers=answers,
        rpc=rpc,
    )


def _boot_status(c: _Checker, table: Any) -> dict[str, str]:
    if table is None:
        return {}
    table = c.table(table, "central.boot_status", set(REGISTRY_STATUSES))
    for status in REGISTRY_STATUSES:
        value = c.str_(table, status, "central.boot_status", required=True)
        if status != "approved" and value == table["approved"]:
            # issue 11: a device the registry does not approve is never silently accepted
            raise c.fail(
                f"central.boot_status.{status}",
                f"a {status} device gets the answer of an approved one ({value!r}); give it Pending or Rejected",
            )
    return dict(table)


def _interval(c: _Checker, table: Any, boot_status: dict[str, str]) -> dict[str, int]:
    if table is None:
        return {}
    table = c.table(table, "central.interval")
    without = sorted(set(boot_status.values()) - set(table))
    if without:
        raise c.fail("central.interval", f"no interval for the boot answer {without[0]!r}")
    out = {}
    for answer, seconds in table.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 86400 * 7:
            raise c.fail(f"central.interval.{answer}", "expected whole seconds between 0 and 604800")
        out[answer] = seconds
    return out


def _errors(c: _Checker, table: Any, framing: Framing) -> dict[str, CentralError]:
    table = c.table(table, "central.errors", set(ERROR_DEFAULTS))
    out = {}
    for kind, fallback in ERROR_DEFAULTS.items():
        where = f"central.errors.{kind}"
        form = framing.errors[fallback]
        given = table.get(kind)
        if given is None:
            out[kind] = CentralError(form.code, form.message)
            continue
        given = c.table(given, where, {"code", "message"})
        code = given.get("code", form.code)
        if not isinstance(code, (str, int)) or isinstance(code, bool):
            raise c.fail(f"{where}.code", "expected a string or a whole number")
        out[kind] = CentralError(code, c.str_(given, "message", where, form.message))
    return out


def _reply(c: _Checker, template: Any, where: str, missing: dict[str, str]) -> Any:
    """Every placeholder is one the hub fills; `missing`: names this answer
    cannot fill -> the setting that would make them available."""
    for placeholder, filter_name in placeholder_filters(template):
        head = placeholder.split(".")[0]
        if head not in REPLY_NAMES or (head != "payload" and head != placeholder):
            raise c.fail(where, f"template names {{{{{placeholder}}}}}; known: {', '.join(REPLY_NAMES)}, payload.FIELD")
        if filter_name is not None and filter_name not in FILTERS:
            raise c.fail(where, f"template names {{{{{placeholder}|{filter_name}}}}}: unknown filter")
        if head in missing:
            raise c.fail(where, f"template names {{{{{placeholder}}}}}, which needs `{missing[head]}`")
    return template


def _checks(c: _Checker, event: Event, table: Any, where: str) -> tuple[tuple[str, Param], ...]:
    checks = [(join([field.name]), field) for field in event.fields]
    for pointer, spec in c.table(table, where).items():
        c.pointer(pointer, where)
        checks.append((pointer, parse_param(pointer, spec, f"{c.source}: {where}.{pointer}")))
    return tuple(checks)


def _answer(
    c: _Checker,
    key: str,
    spec: Any,
    events: dict[str, Event],
    boot_status: dict[str, str],
    interval: dict[str, int],
) -> CentralAnswer:
    where = f"central.answers.{key}"
    event = events.get(key)
    if event is None or event.kind != "request":
        requests = ", ".join(k for k, e in events.items() if e.kind == "request") or "none"
        raise c.fail(where, f"no event {key!r} of kind request in [events] (device requests: {requests})")
    spec = c.table(spec, where, ANSWER_KEYS)
    always = spec.get("always", False)
    if not isinstance(always, bool):
        raise c.fail(f"{where}.always", "expected true or false")
    effect = c.str_(spec, "effect", where)
    if effect is not None and effect not in EFFECT_KINDS:
        raise c.fail(f"{where}.effect", f"expected one of {', '.join(EFFECT_KINDS)}, got {effect!r}")
    transaction = c.str_(spec, "transaction", where)
    if transaction is not None and transaction not in TRANSACTIONS:
        raise c.fail(f"{where}.transaction", f"expected one of {', '.join(TRANSACTIONS)}, got {transaction!r}")
    if transaction is not None and effect != "transaction":
        raise c.fail(f"{where}.effect", 'a transaction answer records effect = "transaction"')
    record = c.table(spec.get("record"), f"{where}.record")
    for name, pointer in record.items():
        c.pointer(pointer, f"{where}.record.{name}")
    wanted = {"boot": ("vendor", "model")}.get(effect or "", ()) + TRANSACTION_FIELDS.get(transaction or "", ())
    for name in wanted:
        if name not in record:
            raise c.fail(f"{where}.record.{name}", f"missing: effect {effect!r} needs it (a JSON pointer)")
    if effect == "boot" and not boot_status:
        raise c.fail(f"{where}.effect", "a boot answer needs central.boot_status (which device gets which answer)")
    authorize = c.pointer(spec.get("authorize"), f"{where}.authorize")
    authorize_type = c.pointer(spec.get("authorize_type"), f"{where}.authorize_type")
    if authorize_type is not None and authorize is None:
        raise c.fail(f"{where}.authorize_type", "needs `authorize` (the id token it is the type of)")
    missing = {
        name: setting
        for names, setting, given in (
            (("id_tag_status", "id_tag_info"), f"{where}.authorize", authorize is not None),
            (("transaction_id",), f"{where}.transaction", transaction is not None),
            (("boot_status",), "central.boot_status", bool(boot_status)),
            (("interval",), "central.interval", bool(interval)),
        )
        if not given
        for name in names
    }
    reply = _reply(c, spec.get("reply", {}), f"{where}.reply", missing)
    return CentralAnswer(
        event=key,
        name=event.name,
        reply=reply,
        always=always,
        effect=effect,
        record=tuple(record.items()),
        authorize=authorize,
        transaction=transaction,
        checks=_checks(c, event, spec.get("check"), f"{where}.check"),
        authorize_type=authorize_type,
    )
