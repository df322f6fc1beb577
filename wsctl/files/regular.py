"""Opening files that came from elsewhere (profiles, recordings, HAR files)
without trusting what the path points at.

A path can name a FIFO (``open`` blocks until a writer comes: a hung
``serve --replay``), a device (``/dev/zero`` reads until the OOM killer), a
directory, or a file far larger than any sane profile.  `open_regular` opens
without blocking and refuses anything but a regular file, checked on the open
descriptor (no race between a stat and the open); `read_regular` also bounds
how much is read.  Both raise `InvalidInput` (exit 8) naming the file.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from wsctl.core.errors import InvalidInput

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: str | os.PathLike[str], *, what: str = "file") -> BinaryIO:
    """``path`` opened for binary reading; InvalidInput unless it is a regular file."""
    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InvalidInput(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{name}: is a directory, not a {what}") from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((label for test, label in _KINDS if test(mode)), "not a regular file")
            raise InvalidInput(f"{name}: is {kind}, not a {what}", hint=f"give the path of a regular {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], *, limit: int, what: str = "file") -> bytes:
    """The whole file, or InvalidInput when it is not a regular file or is over ``limit`` bytes."""
    name = os.fspath(path)
    with open_regular(name, what=what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{name}: larger than {limit} bytes, too large for a {what}")
    return data


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as text, or InvalidInput naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
