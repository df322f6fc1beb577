"""The recording proxy's gate, sans-I/O: which of a tool's messages may reach the device.

The proxy holds its own operator role upstream, so it judges every tool →
device message against the tool's role (from the tool's certificate) with the
profile's reading of the message.  That judgement is only worth something if
the device reads the message the same way.  Parsers disagree, so the gate
forwards only what has a single reading and refuses the rest (the message is
never rewritten: the device gets, and the recording keeps, the tool's bytes):

JSON framing
  - a key twice in one object, at any depth, or two keys that differ only in
    case: Python keeps the last, cJSON (ESP-IDF) finds the first, and its
    ``cJSON_GetObjectItem`` ignores case;
  - a NUL (``\\u0000``) or an unpaired surrogate in any string: C parsers cut a
    key or a name at the NUL, or fail, where Python reads on;
  - ``NaN``/``Infinity``: not JSON; Python reads them, devices do not;
  - a message the protocol's rules read as more than one kind (a request that
    also carries ``result``/``error``): a device that checks ``method`` first
    runs what the gate took for a reply;
  - nesting deeper than Python parses.
text framing
  - a line break or another control character inside the message (one
    trailing ``\\n`` or ``\\r\\n`` is a line terminator and allowed), and the
    profile's command separators (``framing.separators``, SCPI's ``;``): the
    device would run a second command the gate never judged.

Ambiguity is refused for every tool, whatever its role: the recording and the
log must say what the device was asked to do.  Then, for a message with one
reading: a command the tool's role may not run is refused (``not_authorized``);
a message the profile cannot attribute to a command (unknown command, a
JSON-RPC notification, not JSON) passes only for a tool whose role covers the
proxy's own (`covers`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from wsctl.core import roles
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request
from wsctl.core.profile.model import Profile


def covers(tool: str | None, upstream: str | None) -> bool:
    """May a tool with role ``tool`` act through an upstream connection holding ``upstream``?

    Ladder roles compare by rank; an admin role grants nothing on the ladder
    and is matched only by itself.  An upstream without a role grants no role
    of its own, so there is nothing to take over."""
    if upstream is None:
        return True
    if tool is None:
        return False
    if upstream in roles.LADDER and tool in roles.LADDER:
        return roles.LADDER.index(tool) >= roles.LADDER.index(upstream)
    return tool == upstream


@dataclass(frozen=True)
class Refusal:
    """A message the gate does not forward."""

    #: why, for the log and the recording (never quotes parameter values)
    detail: str
    #: the protocol's error answer for the tool; None when none may be sent
    reply: str | None
    #: the profile command's key, when the message named one
    command: str | None = None
    #: ``role`` (the tool may not), ``ambiguous`` (no single reading)
    reason: str = "role"


# ---------------------------------------------------------------------------
# one reading or none


#: characters no string in a message may hold: NUL ends a C string, a lone
#: surrogate is not Unicode (C parsers fail or substitute, Python reads on)
_UNREADABLE = re.compile("[\x00\ud800-\udfff]")
#: text framing: C0 controls but TAB, and DEL
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class _Reading:
    """Collects what makes a JSON document mean different things to different parsers."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, str] = {}
        for key, _ in pairs:
            folded = key.casefold()
            first = seen.get(folded)
            if first is None:
                seen[folded] = key
            else:
                self.problems.append(
                    f"duplicate key {key!r}" if first == key else f"keys {first!r} and {key!r} differ only in case"
                )
        return dict(pairs)

    def constant(self, name: str) -> float:
        self.problems.append(f"{name} is not JSON")
        return float(name)


def _strings(doc: Any) -> Any:
    """Every key and string value of a document (iterative: depth is unbounded)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def read_json(text: str) -> tuple[Any, list[str]]:
    """(document, what makes it ambiguous); ``ValueError`` when it is not JSON at all."""
    reading = _Reading()
    try:
        doc = json.loads(text, object_pairs_hook=reading.pairs, parse_constant=reading.constant)
    except RecursionError:
        return None, ["nested too deeply"]
    if any(_UNREADABLE.search(s) for s in _strings(doc)):
        reading.problems.append("a string holds NUL or an unpaired surrogate")
    return doc, reading.problems


def text_problems(text: str, separators: tuple[str, ...]) -> list[str]:
    """What makes a text-framed message more than one command."""
    body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    problems = []
    control = _CONTROL.search(body)
    if control is not None:
        problems.append(f"a line break or control character (U+{ord(control.group()):04X}) inside the command")
    problems.extend(f"the command separator {sep!r}" for sep in separators if sep in body)
    return problems


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


# ---------------------------------------------------------------------------


class Gate:
    """Per tool connection: judge each tool → device message (with a profile)."""

    def __init__(self, profile: Profile, role: str | None, upstream_role: str | None) -> None:
        self.codec = DeviceCodec(profile)
        self.role = role
        self.covered = covers(role, upstream_role)
        self.upstream_role = upstream_role

    def judge(self, message: str | bytes) -> Refusal | None:
        """None to forward the message as it is; else why not, and the answer."""
        text: str | None = message if isinstance(message, str) else None
        if not isinstance(message, str):
            try:
                text = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                text = None  # the codec says why; nothing to misread
        item = None
        if text is not None:
            refusal, item = self._read(text)
            if refusal is not None:
                return refusal
        if item is None:
            item = self.codec.parse(message)
        return self._authorize(item)

    def _read(self, text: str) -> tuple[Refusal | None, Any]:
        """(refusal of an ambiguous message, else None; the codec's reading or None)."""
        codec = self.codec
        if codec.text:
            problems = text_problems(text, codec.framing.separators)
            return (self._ambiguous(problems, text, None) if problems else None), None
        try:
            doc, problems = read_json(text)
        except ValueError:
            return None, None  # not JSON: the codec's parse error, judged below
        if not problems:
            kinds = codec.kinds(doc)
            if len(kinds) > 1:
                problems = [f"it reads as {' and '.join(sorted(kinds))} at once"]
        if problems:
            return self._ambiguous(problems, text, doc), None
        return None, codec.read(doc, text)

    def _ambiguous(self, problems: list[str], text: str, doc: Any) -> Refusal:
        detail = "ambiguous message not forwarded: " + "; ".join(problems)
        return Refusal(
            detail=detail,
            reply=self.codec.error(self._reply_id(text, doc), "invalid_request", detail),
            reason="ambiguous",
        )

    def _reply_id(self, text: str, doc: Any) -> Any:
        """The request's id when both readings of a duplicate agree on it, else the
        protocol's "unknown" id: an answer must not pick one reading."""
        framing = self.codec.framing
        rules = [r.id for r in framing.inbound if r.kind == "request" and r.id]
        if doc is None or not rules:
            return framing.unknown_id
        try:
            first = json.loads(text, object_pairs_hook=_first_wins)
        except (ValueError, RecursionError):
            return framing.unknown_id
        ids = {json.dumps(resolve(d, rules[0]), default=str) for d in (doc, first)}
        rid = resolve(doc, rules[0])
        if len(ids) != 1 or rid is MISSING or isinstance(rid, bool) or not isinstance(rid, (str, int)):
            return framing.unknown_id
        return rid

    def _authorize(self, item: Any) -> Refusal | None:
        codec = self.codec
        rid = getattr(item, "id", None)
        # the proxy does not follow replies: free the id at once, or a reused id
        # would read as a collision (a BadRequest) and escape the role check below
        codec.finish(rid)
        command = item.command if isinstance(item, (Request, BadRequest)) else None
        who = self.role or "(none: no role in the client certificate)"
        if command is not None:
            if roles.allowed(self.role, command.allowed_roles):
                return None
            allowed = ", ".join(sorted(command.allowed_roles))
            detail = f"role {who} may not run {command.key} (allowed: {allowed})"
            return Refusal(detail=detail, reply=codec.error(rid, "not_authorized", detail), command=command.key)
        if not isinstance(item, BadRequest) or self.covered:
            return None  # a reply to a device call, or a tool the proxy's own role covers
        # no command to judge (unknown to the profile, a notification, not
        # parseable): only a tool with at least the proxy's role may send it
        detail = (
            f"role {who} may not send a message the profile cannot attribute to a command "
            f"({item.reason}); that needs at least the proxy's role {self.upstream_role}"
        )
        reply = None
        if item.reply is not None:
            reply = codec.error(item.id if item.id is not None else codec.framing.unknown_id, "not_authorized", detail)
        return Refusal(detail=detail, reply=reply)
