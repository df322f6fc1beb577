"""Private, atomic file writes for the PKI store.

A store operation touches several files (a key, a certificate, a chain, the
index, the CRL).  A crash or a full disk half-way must leave the store as it
was, so every file is first written to a temporary sibling, and only when all
of them are on disk are they moved into place with `os.replace`; if a move
fails, the ones already moved are put back from hard-linked backups.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> list[Path]:
    """Create `path` (and parents) as 0700; return the directories that were created."""
    created: list[Path] = []
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE)
        # mkdir's mode is filtered by the umask; private material must not be
        os.chmod(d, DIR_MODE)
        created.append(d)
    return created


def _write_temp(target: Path, data: bytes, mode: int) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def atomic_write(target: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace `target` with `data` in one step; readers see old or new, never half."""
    with Transaction() as txn:
        txn.write(target, data, mode)


class Transaction:
    """Stage several file writes, then move them all into place or none.

    Use as a context manager: files are staged by `write`, committed when the
    block ends without an exception, and discarded (temporaries deleted,
    directories created for them removed) when it raises.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path | None, Path]] = []
        self._created_dirs: list[Path] = []
        self._done = False

    def write(self, target: Path, data: bytes, mode: int = FILE_MODE) -> None:
        self._created_dirs.extend(ensure_private_dir(target.parent))
        self._staged.append((_write_temp(target, data, mode), target))

    def remove(self, target: Path) -> None:
        """Delete `target` as part of the commit (restored if the commit fails)."""
        self._staged.append((None, target))

    def commit(self) -> None:
        moved: list[tuple[Path, Path | None]] = []
        backup: Path | None = None
        try:
            for temp, target in self._staged:
                backup = None
                if target.exists():
                    backup = target.with_name(f".{target.name}.bak-{os.getpid()}")
                    with contextlib.suppress(FileNotFoundError):
                        backup.unlink()
                    os.link(target, backup)
                elif temp is None:
                    continue
                if temp is None:
                    target.unlink()
                else:
                    os.replace(temp, target)
                moved.append((target, backup))
                backup = None
        except BaseException:
            if backup is not None:  # made for the target whose replace failed
                with contextlib.suppress(OSError):
                    backup.unlink()
            for target, backup in reversed(moved):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, target)
                    else:
                        target.unlink()
            self.rollback()
            raise
        for _, backup in moved:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
        self._staged.clear()
        self._done = True
        _fsync_dirs({target.parent for target, _ in moved})

    def rollback(self) -> None:
        for temp, _ in self._staged:
            if temp is not None:
                with contextlib.suppress(OSError):
                    temp.unlink()
        self._staged.clear()
        for d in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created_dirs.clear()

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._done:
            self.commit()
        elif exc_type is not None:
            self.rollback()


def _fsync_dirs(dirs: set[Path]) -> None:
    # the rename itself is only durable once the directory entry is flushed
    for d in dirs:
        with contextlib.suppress(OSError):
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def append_private(path: Path, line: bytes) -> None:
    """Append one line with a single write (O_APPEND), creating the file 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock so two wsctl runs do not interleave store writes."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
