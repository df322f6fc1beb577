"""What a step expects of a reply or an event, and the variables steps share.

An expectation is a JSON Pointer and a matcher: a plain value (equality) or
a table of tests that must all hold — ``eq``, ``min``/``max`` (numbers),
``regex`` (strings, searched), ``type``, ``one_of``, ``exists``.  Strings in
matchers, parameters and raw messages may name variables: ``"${tx}"`` alone
is the variable's value with its type, inside a longer string its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wsctl.core.pointer import MISSING, resolve, split
from wsctl.core.profile.params import finite
from wsctl.core.profile.regex_guard import VALUE_LIMIT, compile_bounded

TESTS = ("eq", "min", "max", "regex", "type", "one_of", "exists")
TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CheckError(ValueError):
    """A matcher that cannot be a matcher (the file's fault), with where it is."""


@dataclass(frozen=True)
class Expectation:
    pointer: str
    #: test name -> wanted value, in TESTS order (``eq`` may hold variables)
    tests: tuple[tuple[str, Any], ...]

    def describe(self) -> str:
        return ", ".join(_describe(name, wanted) for name, wanted in self.tests)


@dataclass(frozen=True)
class Mismatch:
    pointer: str
    wanted: str
    got: Any

    def line(self) -> str:
        return f"{self.pointer or '(whole)'}: expected {self.wanted}, got {show(self.got)}"


def show(value: Any, limit: int = 120) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(name: str, wanted: Any) -> str:
    describe: dict[str, Callable[[], str]] = {
        "eq": lambda: show(wanted),
        "min": lambda: f">= {wanted:g}",
        "max": lambda: f"<= {wanted:g}",
        "regex": lambda: f"a string matching /{wanted}/",
        "type": lambda: f"type {wanted}",
        "one_of": lambda: f"one of {show(list(wanted))}",
        "exists": lambda: "present" if wanted else "absent",
    }
    return describe[name]()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compile_expectation(pointer: str, spec: Any) -> Expectation:
    """One ``"/pointer" = matcher`` entry, checked; CheckError says what is wrong."""
    try:
        split(pointer)
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    if not isinstance(spec, dict):
        return Expectation(pointer, (("eq", spec),))
    unknown = sorted(set(spec) - set(TESTS))
    if unknown:
        raise CheckError(f"unknown test {unknown[0]!r} (tests: {', '.join(TESTS)}; compare a table with eq = {{...}})")
    if not spec:
        raise CheckError("empty matcher")
    for bound in ("min", "max"):
        if bound in spec and (not _number(spec[bound]) or not finite(spec[bound])):
            raise CheckError(f"{bound}: expected a finite number")
    if "regex" in spec:
        if not isinstance(spec["regex"], str):
            raise CheckError("regex: expected a string")
        if variables_in(spec["regex"]):
            raise CheckError("regex: a regex holds no ${variables} (a value would be read as a pattern)")
        bounded_regex(spec["regex"])
    if "type" in spec and spec["type"] not in TYPES:
        raise CheckError(f"type: expected one of {', '.join(TYPES)}")
    if "one_of" in spec and not isinstance(spec["one_of"], list):
        raise CheckError("one_of: expected a list")
    if "exists" in spec and not isinstance(spec["exists"], bool):
        raise CheckError("exists: expected true or false")
    return Expectation(pointer, tuple((name, spec[name]) for name in TESTS if name in spec))


def bounded_regex(pattern: str) -> re.Pattern[str]:
    """The compiled pattern of a scenario regex, or CheckError: not a regex, or one
    whose matching can take exponential time (it runs on the only thread, where
    no step timeout or signal can stop it)."""
    try:
        return compile_bounded(pattern)
    except (re.error, ValueError) as exc:
        raise CheckError(f"regex: {exc}") from None


def search(pattern: str, text: str) -> bool:
    """A scenario regex searched in ``text``'s first `VALUE_LIMIT` characters
    (regex_guard: a polynomial pattern still sees a bounded input)."""
    return re.search(pattern, text[:VALUE_LIMIT]) is not None


def _is_type(value: Any, name: str) -> bool:
    return {
        "string": lambda: isinstance(value, str),
        "integer": lambda: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda: _number(value),
        "boolean": lambda: isinstance(value, bool),
        "array": lambda: isinstance(value, list),
        "object": lambda: isinstance(value, dict),
        "null": lambda: value is None,
    }[name]()


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _passes(name: str, wanted: Any, got: Any) -> bool:
    if name == "exists":
        return bool((got is not MISSING) == wanted)
    if got is MISSING:
        return False
    if name == "eq":
        return _equal(got, wanted)
    if name == "min":
        return _number(got) and got >= wanted
    if name == "max":
        return _number(got) and got <= wanted
    if name == "regex":
        return isinstance(got, str) and search(wanted, got)
    if name == "type":
        return _is_type(got, wanted)
    return any(_equal(got, option) for option in wanted)  # one_of


def evaluate(expectations: tuple[Expectation, ...], document: Any, variables: Mapping[str, Any]) -> list[Mismatch]:
    """Every expectation that ``document`` does not meet (empty: all met).

    Raises `UnknownVariable` when a matcher names a variable not set yet."""
    out = []
    for exp in expectations:
        got = resolve(document, exp.pointer)
        failed = [(name, substitute(wanted, variables)) for name, wanted in exp.tests]
        failed = [(name, wanted) for name, wanted in failed if not _passes(name, wanted, got)]
        if failed:
            out.append(Mismatch(exp.pointer, ", ".join(_describe(n, w) for n, w in failed), got))
    return out


class UnknownVariable(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def variables_in(value: Any) -> set[str]:
    """Names of the variables a value (string, list, table) uses."""
    if isinstance(value, str):
        return set(VARIABLE.findall(value))
    if isinstance(value, dict):
        return set().union(*(variables_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(variables_in(v) for v in value)) if value else set()
    return set()


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with its ``${name}`` replaced; a string that is only one
    reference becomes the variable's value itself (a number stays a number)."""
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), variables)
        return VARIABLE.sub(lambda m: as_text(_lookup(m.group(1), variables)), value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def _lookup(name: str, variables: Mapping[str, Any]) -> Any:
    if name not in variables:
        raise UnknownVariable(name)
    return variables[name]


def as_text(value: Any) -> str:
    """A variable's value inside a longer string (and a raw message): its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
