"""Writing a command's output to `--out FILE` the way users expect.

A regular file is replaced atomically (a temporary file, then rename), so a
crash never leaves half an export.  A FIFO or a device such as /dev/stdout or
/dev/null is written through, as a shell's `>` would: replacing it would
destroy the node (as root, the device itself).  A symlink is written through
too — except for private output (a plain key, a PKCS#12 file: ``mode`` 0600),
which is never written through a link: the file it points to (or creates)
would keep, or get, a mode others can read.

An output that cannot be written (no such directory, no permission, a
directory in the way) is `InvalidInput` with the system's reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from wsctl.core.errors import InvalidInput


def write_output(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    target = Path(path)
    private = not mode & 0o077
    try:
        _write(target, data, mode, private)
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None


def _write(target: Path, data: bytes, mode: int, private: bool) -> None:
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        try:
            pointed = os.stat(target)
        except FileNotFoundError:
            pointed = None
        if pointed is None or not _is_stream(pointed.st_mode):
            if private:
                raise InvalidInput(
                    f"refusing to write private output through the symbolic link {target}",
                    hint="give the real path (or - for standard output)",
                )
            _write_through(target, data)
            return
        info = pointed
    if info is not None and _is_stream(info.st_mode):
        _write_through(target, data)
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"cannot write {target}: it is not a regular file")
    _replace(target, data, mode)


def _is_stream(st_mode: int) -> bool:
    return stat.S_ISCHR(st_mode) or stat.S_ISFIFO(st_mode) or stat.S_ISSOCK(st_mode)


def _write_through(target: Path, data: bytes) -> None:
    with open(target, "wb") as fh:
        fh.write(data)


def _replace(target: Path, data: bytes, mode: int) -> None:
    """A new file beside ``target`` under a name nobody can guess (O_EXCL: never
    someone else's file), renamed onto it; only this file is ever removed."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
