"""Per-version migrations of recordings (the mitmproxy `io/compat.py` way).

Every released format version stays readable.  When the format changes, the
writer moves to version n+1 and one entry is added here: ``MIGRATIONS[n]``
turns a version-n header and version-n event lines into version n+1.  Readers
chain the steps, so a file from any supported version reaches the current one
line by line, still streaming.  Writers only ever write the current version.

Version 1 is the first and current version, so the table is empty; the reader
already goes through it, which keeps the path a v2 needs tested (tests patch in
a step and watch it run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsctl.core.record.format import FORMAT_PREFIX, VERSION, RecordFormatError

Doc = dict[str, Any]


@dataclass(frozen=True)
class Migration:
    """Version n → n+1: one function for the header, one for each event line."""

    header: Callable[[Doc], Doc]
    event: Callable[[Doc], Doc]


#: from-version -> step to from-version + 1
MIGRATIONS: dict[int, Migration] = {}
#: the oldest version this wsctl reads (raise it only with a major release)
OLDEST = 1


def check_version(version: int, *, current: int | None = None) -> None:
    current = VERSION if current is None else current
    if version > current:
        raise RecordFormatError(
            f"recording format {FORMAT_PREFIX}{version} is newer than this wsctl understands ({FORMAT_PREFIX}{current})",
            hint="upgrade wsctl to read it",
        )
    if version < OLDEST:
        raise RecordFormatError(
            f"recording format {FORMAT_PREFIX}{version} is no longer supported (oldest: {FORMAT_PREFIX}{OLDEST})"
        )
    missing = [n for n in range(version, current) if n not in MIGRATIONS]
    if missing:
        raise RecordFormatError(f"no migration from {FORMAT_PREFIX}{missing[0]} to {FORMAT_PREFIX}{missing[0] + 1}")


def migrate_header(doc: Doc, version: int, *, current: int | None = None) -> Doc:
    current = VERSION if current is None else current
    check_version(version, current=current)
    for n in range(version, current):
        doc = MIGRATIONS[n].header(doc)
    return doc


def event_upgrader(version: int, *, current: int | None = None) -> Callable[[Doc], Doc] | None:
    """One function taking a version-``version`` event line to the current version;
    None when no step is needed (the fast path for current files)."""
    current = VERSION if current is None else current
    check_version(version, current=current)
    steps = [MIGRATIONS[n].event for n in range(version, current)]
    if not steps:
        return None

    def upgrade(doc: Doc) -> Doc:
        for step in steps:
            doc = step(doc)
        return doc

    return upgrade
