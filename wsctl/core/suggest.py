"""'Did you mean ...?' for names people type: verbs, commands, profiles,
operators, devices, inventory aliases.  Pure: a word and the known names in,
a suffix for the error message out."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to ``word``, if one is near enough to be a typo."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'alice'?"`` or ``""``."""
    match = closest(word, known)
    return f"; did you mean {match!r}?" if match is not None and match != word else ""
