"""Redaction of secrets before a message reaches the disk.

A rule is either a JSON Pointer (``/params/password``; ``*`` as a segment
matches every key or index, so ``/*/token`` or ``/3/idTag`` for OCPP arrays)
or a regex (``re:REGEX``).  Pointer rules apply to text messages that parse as
JSON: the value found there becomes ``"[REDACTED]"`` and the message is
written back compactly (only when a rule hit, so untouched messages keep their
exact bytes).  A key given twice is masked in each place (parsers disagree on
which one counts), and JSON nested too deeply to read is not kept at all.  Regex rules apply to every text message (and to binary ones as
bytes): with capturing groups only the groups are replaced, so
``re:"password":"([^"]*)"`` keeps the key; without groups the whole match is.

Regex rules also reach the strings *around* the messages: the header's
``url`` and every event's ``error``, ``reason`` and extra fields (the ``open``
event's ``url``, a proxy refusal's ``request``) — a token in a query string or
quoted in an error message would otherwise reach the disk unmasked.  Pointer
rules stay with message bodies: a URL is not a JSON document.  A proxy
refusal's ``request`` *is* a message body (the tool's request, kept instead
of being forwarded), so both kinds of rule apply to it.

A redacted recording replays ``[REDACTED]`` — deliberate: the secret is gone.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

from wsctl.core.errors import UsageError
from wsctl.core.pointer import split
from wsctl.core.record.format import Event, Header

MASK = "[REDACTED]"
#: the field of an ``error`` event that holds a message the proxy refused to forward
REFUSED_BODY = "request"


def parse_rules(specs: Iterable[str]) -> tuple[list[tuple[str, ...]], list[re.Pattern[str]]]:
    """``/json/pointer`` and ``re:REGEX`` strings → (pointers, regexes); UsageError on bad ones."""
    pointers: list[tuple[str, ...]] = []
    regexes: list[re.Pattern[str]] = []
    for spec in specs:
        if spec.startswith("re:"):
            try:
                regexes.append(re.compile(spec[3:]))
            except re.error as exc:
                raise UsageError(f"bad regex rule {spec!r}: {exc}") from None
        elif spec.startswith("/"):
            pointers.append(split(spec))
        else:
            raise UsageError(f"bad rule {spec!r}: expected a JSON Pointer (/a/b) or re:REGEX")
    return pointers, regexes


class _Object(list):  # type: ignore[type-arg]
    """A JSON object read as its (key, value) pairs.  A key given twice keeps
    both values, so a rule masks both: a dict keeps only the last, and a device
    that reads the first (cJSON) would have had its secret written unmasked."""


def _dump(doc: Any) -> str:
    """Compact JSON, an `_Object` with its pairs as they came."""
    if isinstance(doc, _Object):
        return "{" + ",".join(f"{_dump(k)}:{_dump(v)}" for k, v in doc) + "}"
    if isinstance(doc, list):
        return "[" + ",".join(_dump(v) for v in doc) + "]"
    return json.dumps(doc, ensure_ascii=False)


def replace_at(doc: Any, path: tuple[str, ...], value: Any) -> bool:
    """Set every place ``path`` (with ``*`` wildcards) reaches to ``value``; True if any."""
    if not path:
        return False
    head, rest = path[0], path[1:]
    if isinstance(doc, _Object):
        hit = False
        for index, (key, inner) in enumerate(doc):
            if head == "*" or key == head:
                if rest:
                    hit = replace_at(inner, rest, value) or hit
                else:
                    doc[index] = (key, value)
                    hit = True
        return hit
    if isinstance(doc, dict):
        keys = list(doc) if head == "*" else ([head] if head in doc else [])
    elif isinstance(doc, list):
        if head == "*":
            keys = list(range(len(doc)))
        else:
            keys = [int(head)] if head.isdigit() and int(head) < len(doc) else []
    else:
        return False
    hit = False
    for key in keys:
        if rest:
            hit = replace_at(doc[key], rest, value) or hit
        else:
            doc[key] = value
            hit = True
    return hit


def sub_regex(pattern: re.Pattern[Any], text: Any, mask: Any) -> Any:
    """Replace matches (or only their groups) of ``pattern`` in ``text`` with ``mask``."""
    if not pattern.groups:
        return pattern.sub(mask, text)

    def one(match: re.Match[Any]) -> Any:
        whole = match.group(0)
        start = match.start(0)
        out, pos = [], 0
        for index in range(1, pattern.groups + 1):
            if match.start(index) < 0:
                continue
            a, b = match.start(index) - start, match.end(index) - start
            if a < pos:
                continue  # nested group already inside a replaced one
            out.append(whole[pos:a])
            out.append(mask)
            pos = b
        out.append(whole[pos:])
        return whole[:0].join(out)

    return pattern.sub(one, text)


class Redactor:
    def __init__(self, specs: Iterable[str] = ()) -> None:
        self.specs = tuple(specs)
        self.pointers, self.regexes = parse_rules(self.specs)
        self._byte_regexes = [re.compile(r.pattern.encode("utf-8")) for r in self.regexes]
        #: messages changed so far
        self.hits = 0

    def __bool__(self) -> bool:
        return bool(self.pointers or self.regexes)

    def _masked_json(self, message: str) -> str:
        """``message`` with the pointer rules applied, when it is JSON they hit."""
        if self.pointers and message.lstrip()[:1] in ("{", "["):
            try:
                doc = json.loads(message, object_pairs_hook=_Object)
            except ValueError:
                return message
            except RecursionError:
                return MASK  # JSON too deep to look into: the rules cannot be checked, so none of it is kept
            hit = False
            for path in self.pointers:
                hit = replace_at(doc, path, MASK) or hit
            if hit:
                try:
                    return _dump(doc)
                except RecursionError:
                    return MASK
        return message

    def text(self, message: str) -> str:
        original = message
        message = self._masked_json(message)
        for pattern in self.regexes:
            message = sub_regex(pattern, message, MASK)
        if message != original:
            self.hits += 1
        return message

    def binary(self, message: bytes) -> bytes:
        original = message
        for pattern in self._byte_regexes:
            message = sub_regex(pattern, message, MASK.encode())
        if message != original:
            self.hits += 1
        return message

    def string(self, value: Any) -> Any:
        """Regex rules over a string, or every string inside a JSON-like value
        (the fields around a message); other values pass unchanged."""
        if isinstance(value, str):
            for pattern in self.regexes:
                value = sub_regex(pattern, value, MASK)
            return value
        if isinstance(value, dict):
            return {k: self.string(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.string(v) for v in value]
        return value

    def header(self, header: Header) -> Header:
        """The header with its URL masked (a token in the query string)."""
        if not self.regexes or header.url is None:
            return header
        url = self.string(header.url)
        return header if url == header.url else dataclasses.replace(header, url=url)

    def event(self, event: Event) -> Event:
        """The event with its payload and its other strings redacted."""
        if not self:
            return event
        changes: dict[str, Any] = {}
        if event.data is not None:
            data = self.text(event.data) if isinstance(event.data, str) else self.binary(event.data)
            if data != event.data:
                changes["data"] = data
        info = event.info
        if info and isinstance(info.get(REFUSED_BODY), str):
            body = self._masked_json(info[REFUSED_BODY])
            if body != info[REFUSED_BODY]:
                info = changes["info"] = {**info, REFUSED_BODY: body}
                self.hits += 1
        if self.regexes:
            for key in ("error", "reason", "info"):
                value = info if key == "info" else getattr(event, key)
                if value is not None:
                    masked = self.string(value)
                    if masked != value:
                        changes[key] = masked
        return dataclasses.replace(event, **changes) if changes else event
