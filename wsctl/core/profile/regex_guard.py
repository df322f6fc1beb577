"""Bounds on the regexes a profile brings, so that neither a profile nor a peer
can hold the CPU.

Python's `re` backtracks, and a match runs inside the trio thread: while it
runs, timeouts, Ctrl-C and every other connection stand still.  Two bounds:

- `backtracking_problem` refuses, when the profile loads, the patterns whose
  matching time is exponential in the input: a repeated group whose body may
  be split between iterations in more than one way (a repeat nested in a
  repeat, `(a+)+`, or a repeat of alternatives that start alike, `(a|aa)+`).
  A body that starts or ends with a literal its inner repeats cannot match is
  split one way only (`(?:-[a-z]+)*`, `(?:\\d{1,3}\\.){3}`) and is accepted.
  This is a cheap check of the parsed pattern, not a proof: a pattern it
  accepts may still be polynomial, hence the second bound.
- Every match sees a bounded input: a text line's first `LINE_LIMIT`
  characters (framing `event_regex` / `error_regex`, a command's `success`
  regex, the simulator's reading of a request), a parameter value of at most
  `VALUE_LIMIT` characters (`pattern`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# the parser `re` itself uses (private since Python 3.11; the project needs 3.11)
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

#: characters of a text line the profile's regexes are matched against
LINE_LIMIT = 4096
#: the longest string value a parameter `pattern` is checked against (the
#: shipped OCPP profiles carry PEM certificates of up to 10000 characters)
VALUE_LIMIT = 16384
#: nested bounded repeats are fine while inner ** outer stays below this
_NESTED_BUDGET = 10_000

_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT} | (
    {sre_c.POSSESSIVE_REPEAT} if hasattr(sre_c, "POSSESSIVE_REPEAT") else set()
)
_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre_c.CATEGORY_DIGIT: str.isdigit,
    sre_c.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre_c.CATEGORY_SPACE: str.isspace,
    sre_c.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre_c.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre_c.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def compile_bounded(pattern: Any) -> re.Pattern[str]:
    """`re.compile`, refusing patterns `re` cannot run in bounded time
    (ValueError saying why; `re.error` / TypeError for a pattern that is no regex)."""
    compiled = re.compile(pattern)
    problem = backtracking_problem(pattern)
    if problem is not None:
        raise ValueError(f"{problem}: matching it can take exponential time (catastrophic backtracking)")
    return compiled


def backtracking_problem(pattern: str) -> str | None:
    """Why matching PATTERN can take exponential time, or None (module docstring)."""
    return _walk(sre_parse.parse(pattern), None)


def _walk(items: Any, outer: int | None) -> str | None:
    """`outer`: the bound of the repeat these items are inside (None: none)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if outer is not None and high > 1 and not _affordable(high, outer):
                return "a repeat inside a repeated group"
            delimited = high <= 1 or _delimited(body)
            inner = _walk(body, None if delimited else high)
            if inner is not None:
                return inner
            if high > 1 and _ambiguous_branch(body):
                return "a repeated group of alternatives that can start alike"
        else:
            for sub in _subpatterns(op, av):
                problem = _walk(sub, outer)
                if problem is not None:
                    return problem
    return None


def _affordable(inner: int, outer: int) -> bool:
    if inner >= sre_c.MAXREPEAT or outer >= sre_c.MAXREPEAT:
        return False
    return bool(inner**outer <= _NESTED_BUDGET)


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op is sre_c.SUBPATTERN:
        return [av[-1]]
    if op is sre_c.BRANCH:
        return list(av[1])
    if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
        return [av[1]]
    if op is sre_c.GROUPREF_EXISTS:
        return [p for p in av[1:] if p is not None]
    if op is getattr(sre_c, "ATOMIC_GROUP", None):
        return [av]
    return []


def _flat(items: Any) -> list[tuple[Any, Any]]:
    """The body's items with plain groups opened."""
    out = []
    for op, av in items:
        if op is sre_c.SUBPATTERN:
            out.extend(_flat(av[-1]))
        else:
            out.append((op, av))
    return out


def _delimited(body: Any) -> bool:
    """The body starts (or ends) with a literal character that nothing else in
    it can match: iterations then begin (or end) exactly where that character
    is, so the input is split between them in one way only."""
    flat = _flat(body)
    if not flat:
        return False
    for edge in (0, len(flat) - 1):
        op, av = flat[edge]
        rest = [item for n, item in enumerate(flat) if n != edge]
        if op is sre_c.LITERAL and not any(_atom_matches(atom, chr(av)) for atom in _atoms(rest)):
            return True
    return False


def _atoms(items: Any) -> Any:
    """Every single-character item anywhere in ITEMS."""
    for op, av in items:
        if op in _REPEATS:
            yield from _atoms(av[2])
        elif op in (sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY):
            yield (op, av)
        else:
            for sub in _subpatterns(op, av):
                yield from _atoms(sub)


def _atom_matches(atom: tuple[Any, Any], char: str) -> bool:
    op, av = atom
    if op is sre_c.LITERAL:
        return bool(av == ord(char))
    if op is sre_c.NOT_LITERAL:
        return bool(av != ord(char))
    if op is sre_c.ANY:
        return True
    negate = any(item_op is sre_c.NEGATE for item_op, _ in av)
    hit = any(_in_item(item_op, item_av, char) for item_op, item_av in av)
    return hit != negate


def _in_item(op: Any, av: Any, char: str) -> bool:
    if op is sre_c.LITERAL:
        return bool(av == ord(char))
    if op is sre_c.RANGE:
        return bool(av[0] <= ord(char) <= av[1])
    if op is sre_c.CATEGORY:
        test = _CATEGORIES.get(av)
        return True if test is None else bool(test(char))
    return op is not sre_c.NEGATE  # anything else: assume it may match


def _ambiguous_branch(body: Any) -> bool:
    """An alternation anywhere in a repeated BODY whose alternatives may begin
    alike (an empty alternative counts as beginning like anything)."""
    for op, av in _flat(body):
        if op is sre_c.BRANCH:
            firsts = []
            for alternative in av[1]:
                flat = _flat(alternative)
                if not flat or flat[0][0] is not sre_c.LITERAL:
                    return True
                firsts.append(flat[0][1])
            if len(set(firsts)) != len(firsts):
                return True
        if any(_ambiguous_branch(sub) for sub in _subpatterns(op, av)):
            return True
        if op in _REPEATS and _ambiguous_branch(av[2]):
            return True
    return False


def head(line: str) -> str:
    """What of a text line a profile regex sees."""
    return line if len(line) <= LINE_LIMIT else line[:LINE_LIMIT]
