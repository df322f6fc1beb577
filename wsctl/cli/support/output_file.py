"""Writing a command's output to `--out FILE` the way users expect.

A regular file is replaced atomically (a temporary file, then rename), so a
crash never leaves half an export.  Anything else — a symlink, a FIFO, a device
such as /dev/stdout or /dev/null — is written through, as a shell's `>` would:
replacing it would destroy the link or, as root, the device node itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def write_output(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    target = Path(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        with open(target, "wb") as fh:
            fh.write(data)
        return
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
