"""Comparing what a device answers with what was recorded, and saying how they differ.

Ignore rules take out what always changes: ``/id``, ``/params/timestamp``
(JSON Pointers, ``*`` matches any key or index) drop a field before the
comparison; ``re:REGEX`` replaces matches (or only their groups) in the text.
Regexes run first, on the raw text; then a message that parses as JSON is
compared as JSON (so key order and spacing do not count), anything else as
exact text or bytes.

The two sequences are aligned like a diff (`difflib.SequenceMatcher`), so one
missing answer is reported as one missing answer and not as every later one
differing.  A changed answer is described field by field with JSON Pointers.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from wsctl.core.pointer import join
from wsctl.core.record.redact import parse_rules, replace_at, sub_regex

IGNORED = "<ignored>"
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
        for pattern in self.regexes:
            message = sub_regex(pattern, message, IGNORED)
        stripped = message.lstrip()[:1]
        if stripped in ("{", "[", '"') or stripped.isdigit() or stripped == "-":
            try:
                doc = json.loads(message)
            except ValueError:
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
        return "t" + value


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
        for index, (x, y) in enumerate(zip(a, b)):
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
            "kind": self.kind, "expected_index": self.expected_index, "received_index": self.received_index,
            "expected": wire(self.expected), "received": wire(self.received),
            "fields": [{"pointer": p, "recorded": None if a is _MISSING else a, "received": None if b is _MISSING else b} for p, a, b in self.paths],
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
        verdict = "answers match the recording" if self.ok else f"{c['differs']} differ, {c['missing']} missing, {c['unexpected']} unexpected"
        return f"{self.expected} answers recorded, {self.received} received: {verdict}"

    def lines(self, *, context: Sequence[str] | None = None, limit: int = 50) -> list[str]:
        """The readable report.  ``context[i]``: what the i-th recorded answer followed (the send)."""
        out: list[str] = []
        for d in self.differences[:limit]:
            where = f"answer {d.expected_index + 1}" if d.expected_index is not None else f"received message {d.received_index + 1}"
            after = f" (after {context[d.expected_index]})" if context and d.expected_index is not None and d.expected_index < len(context) else ""
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


def compare(expected: Sequence[Message], received: Sequence[Message], ignore: Ignore | None = None) -> Report:
    """Align the two sequences and list every difference."""
    ignore = ignore or Ignore()
    ka = [ignore.key(m) for m in expected]
    kb = [ignore.key(m) for m in received]
    report = Report(expected=len(expected), received=len(received))
    matcher = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            i, j = i1 + k, j1 + k
            report.differences.append(Difference("differs", i, j, expected[i], received[j], _paths(expected[i], received[j], ignore)))
        for i in range(i1 + pairs, i2):
            report.differences.append(Difference("missing", i, None, expected=expected[i]))
        for j in range(j1 + pairs, j2):
            report.differences.append(Difference("unexpected", None, j, received=received[j]))
    return report
