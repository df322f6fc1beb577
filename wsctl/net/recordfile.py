"""Reading recording files: FILE and its rotated parts, streamed.

`open_recording(path)` gives a `wsctl.core.record.reader.RecordReader` over
FILE, FILE.1, FILE.2 ... (the parts `Recorder` rotated to), reading line by
line in binary mode, so memory stays flat for any size.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from wsctl.core.record.format import Header, RecordFormatError, decode_line
from wsctl.core.record.reader import RecordReader
from wsctl.net.recorder import PathLike, part_path


def _header_of(path: str) -> Header | None:
    try:
        with open(path, "rb") as f:
            first = f.readline()
        item = decode_line(first)
    except (OSError, RecordFormatError):
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


def _part(name: str) -> Iterator[bytes]:
    with open(name, "rb") as f:
        yield from f


def open_recording(path: PathLike, *, strict: bool = False, warn: Callable[[str], Any] | None = None, parts: bool = True) -> RecordReader:
    """A streaming `RecordReader` over FILE (and its rotated parts unless ``parts=False``)."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise RecordFormatError(f"no recording at {name}")
    paths = part_paths(name) if parts else [name]
    return RecordReader.from_parts(((p, _part(p)) for p in paths), strict=strict, source=name, warn=warn)
