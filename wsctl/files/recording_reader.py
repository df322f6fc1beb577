"""Reading recording files: FILE and its rotated parts, streamed.

`open_recording(path)` gives a `wsctl.core.record.reader.RecordReader` over
FILE, FILE.1, FILE.2 ... (the parts `Recorder` rotated to), reading line by
line in binary mode, so memory stays flat for any size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.record import reader as record_reader
from wsctl.core.record.format import Header, decode_line
from wsctl.core.record.reader import OversizedLine, RecordReader
from wsctl.files.recording_parts import PathLike, part_path
from wsctl.files.regular import open_regular

#: bytes read at a time while skipping the rest of an oversized line
_SKIP_CHUNK = 2**20


def _header_of(path: str) -> Header | None:
    try:
        with open_regular(path, what="recording") as f:
            first = f.readline(record_reader.MAX_LINE_BYTES + 1)
        item = decode_line(first)
    except (OSError, InvalidInput):
        return None
    return item if isinstance(item, Header) else None


def part_paths(path: PathLike) -> list[str]:
    """FILE and the rotated parts FILE.1, FILE.2 ... that belong to it (same start
    time in their headers: a stale FILE.n from an older recording is left out)."""
    first = os.fspath(path)
    paths = [first]
    head = _header_of(first)
    n = 1
    while head is not None and os.path.exists(part_path(first, n)):
        other = _header_of(part_path(first, n))
        if other is None or other.started != head.started or other.part != n:
            break
        paths.append(part_path(first, n))
        n += 1
    return paths


def bounded_lines(f: Any, limit: int) -> Iterator[bytes]:
    """The lines of a binary file, each at most ``limit`` bytes; a longer line
    is skipped without holding it and stands as an `OversizedLine`."""
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit:
            yield line
            continue
        ending = b""
        while not line.endswith(b"\n"):
            line = f.readline(_SKIP_CHUNK)
            if not line:
                break
        else:
            ending = b"\n"
        yield OversizedLine(ending)


def _part(name: str, read: Callable[[int], Any] | None = None) -> Iterator[bytes]:
    with open_regular(name, what="recording") as f:
        if read is None:
            yield from bounded_lines(f, record_reader.MAX_LINE_BYTES)
            return
        for line in bounded_lines(f, record_reader.MAX_LINE_BYTES):
            read(len(line))
            yield line


def open_recording(
    path: PathLike,
    *,
    strict: bool = False,
    warn: Callable[[str], Any] | None = None,
    parts: bool = True,
    read: Callable[[int], Any] | None = None,
) -> RecordReader:
    """A streaming `RecordReader` over FILE (and its rotated parts unless ``parts=False``);
    ``read(n)`` is told the size of each line as it is read (progress)."""
    name = os.fspath(path)
    open_regular(name, what="recording").close()  # a FIFO or a device is refused here, before any header is read
    paths = part_paths(name) if parts else [name]
    return RecordReader.from_parts(
        ((p, _part(p, read)) for p in paths),
        strict=strict,
        source=name,
        warn=warn,
        refuse_surrogates=True,  # a file's strings are printed, sent and exported: all UTF-8
    )
