"""Comparing what a device answers with what was recorded, and saying how they differ.

Ignore rules take out what always changes: ``/id``, ``/params/timestamp``
(JSON Pointers, ``*`` matches any key or index) drop a field before the
comparison; ``re:REGEX`` replaces matches (or only their groups) in the text.
Regexes run first, on the raw text; then a message that parses as JSON is
compared as JSON (so key order and spacing do not count), anything else as
exact text or bytes.

Answers that carry a request id (JSON-RPC's ``/id``, or where the profile's
result/error rules put it) are paired by that id first: a device may answer
concurrent requests in any order, and that is not a difference.  The replay
sends the recorded requests verbatim, so the recorded and the received
answer to one request carry the same id (ids are read before ignore rules).
What is left — answers without an id (telemetry, text protocols), ids only
one side has — is aligned in order like a diff (`difflib.SequenceMatcher`),
so one missing answer is reported as one missing answer and not as every
later one differing.  A changed answer is described field by field with JSON
Pointers.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.pointer import MISSING, join, resolve
from wsctl.core.record.redact import parse_rules, replace_at, sub_regex

IGNORED = "<ignored>"
#: past this many pairs (answers left on one side × the other, after the common
#: start and end are set aside) the rest is aligned position by position:
#: `SequenceMatcher` is about cubic on repetitive answers (500 x 500 of them
#: take ~0.6 s here, 2,000 x 2,000 took 40-78 s)
MAX_ALIGN = 250_000
#: field differences listed per message before "... and N more"
MAX_PATHS = 8

Message = str | bytes


class Ignore:
    """Ignore rules (``/pointer`` or ``re:REGEX``), applied by `normalize`."""

    def __init__(self, specs: Iterable[str] = ()) -> None:
        self.specs = tuple(specs)
        self.pointers, self.regexes = parse_rules(self.specs)
        self._byte_regexes = [re.compile(r.pattern.encode("utf-8")) for r in self.regexes]

    def normalize(self, message: Message) -> tuple[str, Any]:
        """("json", document) | ("text", str) | ("binary", bytes) with the rules applied."""
        if isinstance(message, bytes):
            for pattern in self._byte_regexes:
                message = sub_regex(pattern, message, IGNORED.encode())
            return ("binary", message)
        for text_pattern in self.regexes:
            message = sub_regex(text_pattern, message, IGNORED)
        stripped = message.lstrip()[:1]
        if stripped in ("{", "[", '"') or stripped.isdigit() or stripped == "-":
            try:
                doc = json.loads(message)
            except (ValueError, RecursionError):  # nested past the parser's limit: compared as text
                return ("text", message)
            for path in self.pointers:
                replace_at(doc, path, IGNORED)
            return ("json", doc)
        return ("text", message)

    def key(self, message: Message) -> str:
        """A hashable, canonical form: equal keys = equal under the rules."""
        kind, value = self.normalize(message)
        if kind == "json":
            return "j" + json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if kind == "binary":
            return "b" + base64.b64encode(value).decode("ascii")
        return "t" + str(value)


def json_paths(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """Where two JSON documents differ: [(pointer, a's value, b's value)]."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(a) + [k for k in b if k not in a]:
            if key not in b:
                out.append((join(path + (key,)), a[key], _MISSING))
            elif key not in a:
                out.append((join(path + (key,)), _MISSING, b[key]))
            else:
                out.extend(json_paths(a[key], b[key], path + (key,)))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(json_paths(x, y, path + (str(index),)))
        return out
    if a == b and type(a) is type(b):
        return []
    return [(join(path) or "(whole message)", a, b)]


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING: Any = _Missing()


def show(value: Any, limit: int = 120) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, bytes):
        text = "<binary " + str(len(value)) + " bytes> " + base64.b64encode(value[:60]).decode("ascii")
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Difference:
    """One place where the answers part: ``differs``, ``missing`` (recorded,
    not received) or ``unexpected`` (received, not recorded)."""

    kind: str
    expected_index: int | None
    received_index: int | None
    expected: Message | None = None
    received: Message | None = None
    #: for ``differs``: [(pointer, recorded value, received value)]
    paths: tuple[tuple[str, Any, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        def wire(m: Message | None) -> Any:
            return None if m is None else (m if isinstance(m, str) else {"b64": base64.b64encode(m).decode("ascii")})

        return {
            "kind": self.kind,
            "expected_index": self.expected_index,
            "received_index": self.received_index,
            "expected": wire(self.expected),
            "received": wire(self.received),
            "fields": [
                {"pointer": p, "recorded": None if a is _MISSING else a, "received": None if b is _MISSING else b}
                for p, a, b in self.paths
            ],
        }


@dataclass
class Report:
    expected: int
    received: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def counts(self) -> dict[str, int]:
        out = {"differs": 0, "missing": 0, "unexpected": 0}
        for d in self.differences:
            out[d.kind] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        verdict = (
            "answers match the recording"
            if self.ok
            else f"{c['differs']} differ, {c['missing']} missing, {c['unexpected']} unexpected"
        )
        return f"{self.expected} answers recorded, {self.received} received: {verdict}"

    def lines(self, *, context: Sequence[str] | None = None, limit: int = 50) -> list[str]:
        """The readable report.  ``context[i]``: what the i-th recorded answer followed (the send)."""
        out: list[str] = []
        for d in self.differences[:limit]:
            # a difference has an expected answer, a received message, or both
            where = (
                f"answer {d.expected_index + 1}"
                if d.expected_index is not None
                else f"received message {(d.received_index or 0) + 1}"
            )
            after = (
                f" (after {context[d.expected_index]})"
                if context and d.expected_index is not None and d.expected_index < len(context)
                else ""
            )
            if d.kind == "differs":
                out.append(f"{where}{after}: differs")
                for pointer, a, b in d.paths[:MAX_PATHS]:
                    out.append(f"    {pointer}: recorded {show(a, 60)}, got {show(b, 60)}")
                if len(d.paths) > MAX_PATHS:
                    out.append(f"    ... and {len(d.paths) - MAX_PATHS} more fields")
            elif d.kind == "missing":
                out.append(f"{where}{after}: missing; recorded {show(d.expected)}")
            else:
                out.append(f"{where}: unexpected; got {show(d.received)}")
        if len(self.differences) > limit:
            out.append(f"... and {len(self.differences) - limit} more differences")
        out.append(self.summary())
        return out


def _paths(expected: Message, received: Message, ignore: Ignore) -> tuple[tuple[str, Any, Any], ...]:
    ka, a = ignore.normalize(expected)
    kb, b = ignore.normalize(received)
    if ka == kb == "json":
        return tuple(json_paths(a, b))
    return (("(whole message)", expected, received),)


#: where answers carry their request's id when no profile says otherwise
ID_POINTERS = ("/id",)


def answer_id(message: Message, pointers: Sequence[str] = ID_POINTERS) -> str | None:
    """A canonical key of the request id an answer carries, None without one."""
    if not isinstance(message, str) or message.lstrip()[:1] not in ("{", "["):
        return None
    try:
        doc = json.loads(message)
    except (ValueError, RecursionError):
        return None
    for pointer in pointers:
        value = resolve(doc, pointer)
        if value is not MISSING and isinstance(value, (str, int)) and not isinstance(value, bool):
            return json.dumps(value)  # 1 and "1" are different ids
    return None


def _pair_by_id(expected: Sequence[Message], received: Sequence[Message], pointers: Sequence[str]) -> dict[int, int]:
    """expected index -> received index for answers with the same id (first unused, in order)."""
    waiting: dict[str, list[int]] = {}
    for j, message in enumerate(received):
        rid = answer_id(message, pointers)
        if rid is not None:
            waiting.setdefault(rid, []).append(j)
    pairs: dict[int, int] = {}
    for i, message in enumerate(expected):
        rid = answer_id(message, pointers)
        if rid is not None and waiting.get(rid):
            pairs[i] = waiting[rid].pop(0)
    return pairs


def compare(
    expected: Sequence[Message],
    received: Sequence[Message],
    ignore: Ignore | None = None,
    *,
    id_pointers: Sequence[str] | None = ID_POINTERS,
) -> Report:
    """Pair answers by id, align the rest in order, and list every difference.

    ``id_pointers``: where an answer's request id is (None: strictly in order)."""
    ignore = ignore or Ignore()
    report = Report(expected=len(expected), received=len(received))
    pairs = _pair_by_id(expected, received, id_pointers) if id_pointers else {}
    found: list[tuple[tuple[int, int, int], Difference]] = []  # (sort key, difference)
    for i, j in pairs.items():
        if ignore.key(expected[i]) != ignore.key(received[j]):
            found.append(
                (
                    (i, 0, j),
                    Difference("differs", i, j, expected[i], received[j], _paths(expected[i], received[j], ignore)),
                )
            )
    paired = set(pairs.values())
    rest_a = [i for i in range(len(expected)) if i not in pairs]
    rest_b = [j for j in range(len(received)) if j not in paired]
    ka = [ignore.key(expected[i]) for i in rest_a]
    kb = [ignore.key(received[j]) for j in rest_b]
    for op, i1, i2, j1, j2 in _opcodes(ka, kb):
        if op == "equal":
            continue
        pairs_here = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs_here):
            i, j = rest_a[i1 + k], rest_b[j1 + k]
            found.append(
                (
                    (i, 0, j),
                    Difference("differs", i, j, expected[i], received[j], _paths(expected[i], received[j], ignore)),
                )
            )
        for k in range(i1 + pairs_here, i2):
            i = rest_a[k]
            found.append(((i, 0, -1), Difference("missing", i, None, expected=expected[i])))
        # an unexpected answer is reported where it would have been expected
        anchor = rest_a[i2] if i2 < len(rest_a) else len(expected)
        for k in range(j1 + pairs_here, j2):
            j = rest_b[k]
            found.append(((anchor, 1, j), Difference("unexpected", None, j, received=received[j])))
    report.differences = [d for _, d in sorted(found, key=lambda item: item[0])]
    return report


def _opcodes(ka: list[Any], kb: list[Any]) -> list[tuple[str, int, int, int, int]]:
    """`SequenceMatcher.get_opcodes` of ``ka`` against ``kb``, bounded: the
    common start and end are equal as they are, the middle is diffed when it is
    small enough (`MAX_ALIGN`), else paired position by position."""
    start, end_a, end_b = 0, len(ka), len(kb)
    while start < end_a and start < end_b and ka[start] == kb[start]:
        start += 1
    while end_a > start and end_b > start and ka[end_a - 1] == kb[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    mid_a, mid_b = ka[start:end_a], kb[start:end_b]
    if len(mid_a) * len(mid_b) <= MAX_ALIGN:
        inner = difflib.SequenceMatcher(a=mid_a, b=mid_b, autojunk=False).get_opcodes()
    else:
        both = min(len(mid_a), len(mid_b))
        inner = [("equal" if mid_a[k] == mid_b[k] else "replace", k, k + 1, k, k + 1) for k in range(both)]
        if len(mid_a) > both:
            inner.append(("delete", both, len(mid_a), both, both))
        elif len(mid_b) > both:
            inner.append(("insert", both, both, both, len(mid_b)))
    ops = [("equal", 0, start, 0, start)] if start else []
    ops += [(op, i1 + start, i2 + start, j1 + start, j2 + start) for op, i1, i2, j1, j2 in inner]
    if end_a < len(ka):
        ops.append(("equal", end_a, len(ka), end_b, len(kb)))
    return ops
