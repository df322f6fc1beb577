"""Streaming reader of recordings, tolerant where the format promises it.

`RecordReader(lines)` takes any iterable of lines (``str`` or ``bytes``, with
their line endings) — an open file, a generator chaining rotated parts — reads
the header at once and then yields `Event`s one at a time, so a recording of
any size is read in constant memory.

What it tolerates, and why:

- a last line without its newline that does not parse: the writer was killed
  mid-line (the crash-safety promise); dropped with a note in `truncated`;
- a corrupted line in the middle (a disk error, an editor accident): skipped
  with a warning naming its line number, or `RecordFormatError` with
  ``strict=True``;
- header lines after the first (rotated parts joined, files concatenated):
  version-checked, then skipped;
- a line longer than `MAX_LINE_BYTES` (the file's opener hands it over as an
  `OversizedLine` instead of reading it into memory) or nested too deeply for
  the JSON parser: skipped like any corrupted line;
- with ``refuse_surrogates=True`` (every file `open_recording` opens), an event
  with an unpaired surrogate in a string (``"data":"\\ud800"``, valid JSON):
  skipped like any corrupted line, since whatever reads a file prints, sends
  or exports its strings as UTF-8, which cannot carry one.  A header holding
  one is refused.  The default keeps the format's round trip for lines a
  Python caller recorded (the writer escapes a surrogate it is given).

What it refuses: a first line that is not a header, an unknown or newer format
version (there is no guessing at a format it does not know).  Every message
names the file.

Rotated parts: `RecordReader.from_parts([(name, lines), ...])` reads FILE,
FILE.1 ... as one recording but counts lines per part and names the part a
problem is in (``rec.jsonl.2: line 2``), so the line can be found with an
editor; a plain iterable of lines is one part named ``source``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsctl.core.record.compat import event_upgrader, migrate_header
from wsctl.core.record.format import (
    Event,
    Header,
    RecordFormatError,
    event_from_dict,
    event_has_lone_surrogate,
    header_from_dict,
    parse_version,
)
from wsctl.core.unicode_text import has_lone_surrogate

#: at most this many warnings are kept in `warnings` (the count goes on)
MAX_WARNINGS = 100
#: longest line a file opener hands over whole: a message at 16 times the
#: default --max-message-size, escaped, still fits; anything longer is an
#: `OversizedLine` (a recording must not make its reader allocate without bound)
MAX_LINE_BYTES = 128 * 2**20


class OversizedLine(bytes):
    """Stands for a line longer than `MAX_LINE_BYTES` that was not read into
    memory: its value is only the line ending it had (b"\n", or b"" when it
    was the unterminated last line)."""


#: what json.loads raises for a line that is not JSON, including one nested
#: deeper than the interpreter's recursion limit
_NOT_JSON = (ValueError, UnicodeDecodeError, RecursionError)
#: why a line or header with a lone surrogate is refused (see `refuse_surrogates`)
_SURROGATE_WHY = "an unpaired surrogate (not valid Unicode)"


def _ends_line(line: str | bytes) -> bool:
    return line.endswith(b"\n") if isinstance(line, bytes) else line.endswith("\n")


def _blank(line: str | bytes) -> bool:
    return not line.strip()


class RecordReader:
    def __init__(
        self,
        lines: Iterable[str | bytes],
        *,
        strict: bool = False,
        source: str = "recording",
        warn: Callable[[str], Any] | None = None,
        parts: Iterable[tuple[str, Iterable[str | bytes]]] | None = None,
        refuse_surrogates: bool = False,
    ) -> None:
        self.strict = strict
        self.refuse_surrogates = refuse_surrogates
        #: the recording's name (its first file)
        self.source = source
        #: the file the line last read came from (a rotated part, or ``source``)
        self.part = source
        self._lines = self._through_parts(parts) if parts is not None else iter(lines)
        self._warn = warn
        #: number of the line last read (1-based, within `part`)
        self.line_number = 0
        #: corrupted lines skipped (not counting a truncated last line)
        self.skipped = 0
        #: a partial last line was dropped
        self.truncated = False
        #: header lines met after the first (rotated parts)
        self.parts = 1
        self.warnings: list[str] = []
        self.header: Header = self._read_header()
        self._upgrade = event_upgrader(self.header.version)

    @classmethod
    def from_parts(
        cls, parts: Iterable[tuple[str, Iterable[str | bytes]]], *, source: str, **kwargs: Any
    ) -> RecordReader:
        """One recording read from several files (name, lines), in order."""
        return cls((), parts=parts, source=source, **kwargs)

    def _through_parts(self, parts: Iterable[tuple[str, Iterable[str | bytes]]]) -> Iterator[str | bytes]:
        for name, lines in parts:
            # line numbers restart in each file: they are what an editor shows
            self.part, self.line_number = name, 0
            yield from lines

    def _next_line(self) -> str | bytes | None:
        for line in self._lines:
            self.line_number += 1
            if isinstance(line, OversizedLine) or not _blank(line):
                return line
        return None

    def _read_header(self) -> Header:
        line = self._next_line()
        if line is None:
            raise RecordFormatError(f"{self.source}: empty file, not a wsctl recording")
        if isinstance(line, OversizedLine):
            raise RecordFormatError(
                f"{self.source}: not a wsctl recording (first line longer than {MAX_LINE_BYTES} bytes)"
            )
        try:
            doc = json.loads(line)
        except _NOT_JSON:
            what = "truncated header" if not _ends_line(line) else "first line is not JSON"
            raise RecordFormatError(f"{self.source}: not a wsctl recording ({what})") from None
        try:
            version = parse_version(doc)
        except RecordFormatError as exc:
            raise RecordFormatError(f"{self.source}: {exc.message}", hint=exc.hint) from None
        if version is None:
            raise RecordFormatError(f'{self.source}: not a wsctl recording (line 1 has no "format": "wsctl-record/N")')
        try:
            header = header_from_dict(migrate_header(doc, version), version=version)
        except RecordFormatError as exc:
            raise RecordFormatError(f"{self.source}: {exc.message}", hint=exc.hint) from None
        if self.refuse_surrogates and has_lone_surrogate(header.to_dict()):
            raise RecordFormatError(f"{self.source}: the header holds {_SURROGATE_WHY}")
        return header

    def _problem(self, line: str | bytes, why: str) -> None:
        if not _ends_line(line):
            # the writer died mid-line: expected after a crash, never an error
            self.truncated = True
            self._note(f"{self.part}: line {self.line_number}: truncated last line ignored")
            return
        message = f"{self.part}: line {self.line_number}: {why}"
        if self.strict:
            raise RecordFormatError(message + " (strict)")
        self.skipped += 1
        self._note(message + "; line skipped")

    def _note(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        if self._warn is not None:
            self._warn(message)

    def __iter__(self) -> Iterator[Event]:
        upgrade = self._upgrade
        while True:
            line = self._next_line()
            if line is None:
                return
            if isinstance(line, OversizedLine):
                self._problem(line, f"longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                doc = json.loads(line)
            except _NOT_JSON as exc:
                self._problem(line, f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})")
                continue
            if isinstance(doc, dict) and "format" in doc:
                try:
                    version = parse_version(doc)
                except RecordFormatError as exc:
                    self._problem(line, exc.message)
                    continue
                if version is not None:
                    if version != self.header.version:
                        # a part written by another wsctl: migrate from its own version
                        try:
                            migrate_header(doc, version)
                            upgrade = event_upgrader(version)
                        except RecordFormatError as exc:
                            raise RecordFormatError(
                                f"{self.part}: line {self.line_number}: {exc.message}", hint=exc.hint
                            ) from None
                    self.parts += 1
                    continue
            try:
                event = event_from_dict(upgrade(doc) if upgrade is not None else doc)
            except RecordFormatError as exc:
                self._problem(line, exc.message)
                continue
            if self.refuse_surrogates and event_has_lone_surrogate(event):
                self._problem(line, f"the {event.kind} event holds {_SURROGATE_WHY}")
                continue
            yield event
