"""The mock device, sans-I/O: answer like the recorded device did.

Theory of operation.  `MockScript.from_events` splits one recorded connection
into *exchanges* (a request the tool sent, the replies the device gave, each
with its delay after the request) and *unsolicited* messages (what the device
said on its own: a greeting before the first request, telemetry, its own
calls), each with its time after the connection opened.

Which device messages are replies: without a profile, every device message
between one request and the next belongs to the first (messages before any
request are unsolicited).  With a profile, the framing's inbound rules decide:
results and errors are replies (to the request with the same id, when ids are
used), events and device calls are unsolicited wherever they occur.

`MockMatcher.match(message)`, one matcher per client connection, finds the
recorded request in three steps: the exact message; else equal under the
ignore rules (``/id``, ``re:...``, as for replay); else, with a profile, the
same command with the same parameters.  A request recorded several times
answers with its recorded replies in turn (and starts over after the last),
so a polled status walks through what the device said.  The turn belongs to
the *group* of recorded exchanges the request matches at any level (exact,
ignore rules, profile), not to the level that found it: a status polled once
with a recorded id (exact) and then with new ids (profile) still walks
stopped, running, running instead of starting over per level.  Within the
group the least-answered exchange goes next, ties to the closest match, then
to recording order.  When the chosen exchange's request differs from what
the client sent, the request id in the replies is changed to the client's,
so its correlation works.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from wsctl.core.pointer import MISSING, resolve, split

# the device side's own reading of inbound rules, so the mock classifies exactly as the simulator does
from wsctl.core.profile.device_side import _matches as rule_matches
from wsctl.core.record.compare import Ignore
from wsctl.core.record.format import Event
from wsctl.core.record.redact import replace_at

Message = str | bytes


@dataclass(frozen=True)
class Reply:
    #: seconds after the request arrived (as recorded; the server scales by speed)
    delay: float
    message: Message


@dataclass(frozen=True)
class Exchange:
    index: int
    request: Message
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Unsolicited:
    #: seconds after the connection opened
    at: float
    message: Message


@dataclass(frozen=True)
class Match:
    exchange: Exchange
    #: "exact", "ignore" or "profile"
    how: str
    replies: tuple[Reply, ...]


def _json(message: Message) -> Any:
    if not isinstance(message, str) or message.lstrip()[:1] not in ("{", "["):
        return MISSING
    try:
        return json.loads(message)
    except (ValueError, RecursionError):  # nested past the recursion limit: not a message we can read either
        return MISSING


def classify(profile: Any, message: Message) -> tuple[str | None, Any, str | None]:
    """(kind, id, id pointer) of a device message by the profile's framing:
    kind "result" | "error" | "event" | "request" | None (unknown)."""
    framing = profile.framing
    if framing.encoding == "text":
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        if framing.event_regex is not None and framing.event_regex.match(text):
            return "event", None, None
        if framing.error_regex is not None and framing.error_regex.match(text):
            return "error", None, None
        return "result", None, None
    doc = _json(message)
    if doc is MISSING:
        return None, None, None
    for rule in framing.inbound:
        if rule_matches(rule, doc):
            rid = resolve(doc, rule.id) if rule.id else MISSING
            return rule.kind, (None if rid is MISSING else rid), rule.id
    return None, None, None


def _request_id(message: Message, profile: Any) -> tuple[Any, str | None]:
    """The id of a request the tool sent, and where it sits."""
    doc = _json(message)
    if doc is MISSING:
        return None, None
    if profile is not None and profile.framing.encoding == "json":
        from wsctl.core.profile.device_side import DeviceCodec, Request

        parsed = DeviceCodec(profile).parse(message)
        if isinstance(parsed, Request) and parsed.id is not None:
            for pointer in ("/id", "/1"):
                if resolve(doc, pointer) == parsed.id:
                    return parsed.id, pointer
    # without a profile: JSON-RPC's /id, OCPP-J's [2, id, ...]
    if isinstance(doc, dict) and "id" in doc:
        return doc["id"], "/id"
    if isinstance(doc, list) and len(doc) >= 2 and doc[0] == 2:
        return doc[1], "/1"
    return None, None


@dataclass
class MockScript:
    exchanges: list[Exchange] = field(default_factory=list)
    unsolicited: list[Unsolicited] = field(default_factory=list)
    profile: Any = None
    conn: int | None = None

    @classmethod
    def from_events(cls, events: Iterable[Event], *, profile: Any = None, conn: int | None = None) -> MockScript:
        """From the messages of connection ``conn`` (default: the first one with a message)."""
        script = cls(profile=profile, conn=conn)
        opened: float | None = None
        #: open times of connections seen before the one served is known: its
        #: greeting is timed from its own open, not the first connection's
        opens: dict[int, float] = {}
        requests: list[tuple[float, Message, Any]] = []  # (t, message, id)
        replies: list[list[Reply]] = []
        for event in events:
            if script.conn is None:
                if event.kind == "open":
                    opens.setdefault(event.conn, event.t)
                if event.is_message:
                    script.conn = event.conn
            if script.conn is not None and event.conn != script.conn:
                continue
            if event.kind == "open" and opened is None and script.conn is not None:
                opened = event.t
            if not event.is_message:
                continue
            if opened is None:
                opened = opens.get(event.conn, event.t)
            message: Message = event.data  # type: ignore[assignment]
            if event.dir == "out":
                rid, _ = _request_id(message, profile)
                requests.append((event.t, message, rid))
                replies.append([])
                continue
            target = script._reply_target(message, requests)
            if target is None:
                script.unsolicited.append(Unsolicited(event.t - opened, message))
            else:
                replies[target].append(Reply(max(0.0, event.t - requests[target][0]), message))
        script.exchanges = [Exchange(i, m, tuple(replies[i])) for i, (_, m, _) in enumerate(requests)]
        return script

    def _reply_target(self, message: Message, requests: list[tuple[float, Message, Any]]) -> int | None:
        if not requests:
            return None
        if self.profile is None:
            return len(requests) - 1
        kind, rid, _ = classify(self.profile, message)
        if kind in ("event", "request"):
            return None
        if rid is not None:
            for index in range(len(requests) - 1, -1, -1):
                if requests[index][2] == rid:
                    return index
        return len(requests) - 1


class MockMatcher:
    """One client connection's view of the script (its own turn counters)."""

    def __init__(self, script: MockScript, *, ignore: Ignore | None = None) -> None:
        self.script = script
        self.ignore = ignore or Ignore()
        self.profile = script.profile
        self._exact: dict[Message, list[Exchange]] = {}
        self._loose: dict[str, list[Exchange]] = {}
        self._by_command: dict[str, list[Exchange]] = {}
        #: times each exchange (by index) answered on this connection: the turns
        self._uses: dict[int, int] = {}
        for ex in script.exchanges:
            self._exact.setdefault(ex.request, []).append(ex)
            self._loose.setdefault(self.ignore.key(ex.request), []).append(ex)
            key = self._command_key(ex.request)
            if key is not None:
                self._by_command.setdefault(key, []).append(ex)

    def _command_key(self, message: Message) -> str | None:
        if self.profile is None:
            return None
        from wsctl.core.profile.device_side import DeviceCodec, Request

        parsed = DeviceCodec(self.profile).parse(message)
        if not isinstance(parsed, Request):
            return None
        return parsed.command.key + " " + json.dumps(parsed.params, sort_keys=True, default=str)

    def match(self, message: Message) -> Match | None:
        levels: list[tuple[str, list[Exchange]]] = [("exact", self._exact.get(message) or [])]
        levels.append(("ignore", self._loose.get(self.ignore.key(message)) or []))
        key = self._command_key(message) if self.profile is not None else None
        levels.append(("profile", self._by_command.get(key) or [] if key is not None else []))
        # how closely each candidate matched (0 exact ... 2 profile); the union is the group
        rank: dict[int, tuple[int, str, Exchange]] = {}
        for level, (how, found) in enumerate(levels):
            for ex in found:
                rank.setdefault(ex.index, (level, how, ex))
        if not rank:
            return None
        level, how, ex = min(rank.values(), key=lambda item: (self._uses.get(item[2].index, 0), item[0], item[2].index))
        self._uses[ex.index] = self._uses.get(ex.index, 0) + 1
        if how == "exact":
            return Match(ex, how, ex.replies)
        return Match(ex, how, self._renumber(ex, message))

    def _renumber(self, ex: Exchange, message: Message) -> tuple[Reply, ...]:
        """The replies with the recorded request's id replaced by the client's."""
        old, where = _request_id(ex.request, self.profile)
        new, _ = _request_id(message, self.profile)
        if old is None or new is None or old == new or where is None:
            return ex.replies
        out = []
        for reply in ex.replies:
            doc = _json(reply.message)
            pointer = where
            if self.profile is not None:
                kind, rid, rule_pointer = classify(self.profile, reply.message)
                pointer = rule_pointer or where
            if doc is not MISSING and resolve(doc, pointer) == old:
                replace_at(doc, split(pointer), new)
                reply = replace(reply, message=json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            out.append(reply)
        return tuple(out)

    def unmatched_reply(self, message: Message) -> str | None:
        """The protocol's error form for a request not in the recording (needs a profile)."""
        if self.profile is None:
            return None
        from wsctl.core.profile.device_side import DeviceCodec

        codec = DeviceCodec(self.profile)
        rid, _ = _request_id(message, self.profile)
        try:
            return codec.error(
                rid if rid is not None else self.profile.framing.unknown_id, "unknown_command", "not in the recording"
            )
        except (KeyError, ValueError):
            return None
