"""Private files for the PKI store: 0700 directories, 0600 files, no symlinks, a bounded lock.

Store entries are opened without following symbolic links: a symlinked
`audit.log`, `.lock` or `devices/NAME` planted by someone else would otherwise
make wsctl write keys and log lines wherever it points.  The store directory
itself may be a symlink (e.g. `certs -> /srv/pki`); entries inside it may not.
Multi-file commits are in `wsctl.pki.commit`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from wsctl.core.errors import InvalidInput, StoreError

FILE_MODE = 0o600
DIR_MODE = 0o700
#: how long a run waits for another one holding the store lock
LOCK_TIMEOUT = 60.0


def refuse_symlinks(root: Path, path: Path) -> None:
    """Raise InvalidInput if `path`, or any directory between `root` and it, is a symbolic link."""
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        raise InvalidInput(f"{path} is outside the store {root}") from None
    if ".." in rel.parts:  # relative_to is lexical: devices/../../x is "inside"
        raise InvalidInput(f"{path} is outside the store {root}")
    current = Path(root)
    for part in rel.parts:
        current = current / part
        if current.is_symlink():
            raise InvalidInput(
                f"refusing to use {current}: it is a symbolic link (store entries must be real files and directories)",
                hint="remove the link and put the real file or directory there",
            )
        if not current.exists():
            return


def _symlink_error(path: Path) -> InvalidInput:
    return InvalidInput(
        f"refusing to follow the symbolic link {path} (store entries must be real files)",
        hint="remove the link; wsctl recreates the file",
    )


def open_no_follow(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """os.open with O_NOFOLLOW; a symlink at `path` is InvalidInput, not a silent write elsewhere."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_error(path) from None
        raise


def read_no_follow(root: Path, path: Path) -> bytes:
    """The bytes of store file `path`; FileNotFoundError if absent, InvalidInput if a symlink is on the way."""
    refuse_symlinks(root, path)
    fd = open_no_follow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


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


def write_temp(target: Path, data: bytes, mode: int = FILE_MODE, *, directory: Path | None = None) -> Path:
    """A fsynced temporary `.NAME.XXXX.tmp` beside `target` (or in `directory`), created 0600."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory or target.parent)
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


def write_new(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Create `path` (which must not exist) with `data`, fsynced; for files in a fresh staging directory."""
    fd = open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dirs(dirs) -> None:
    # a rename is only durable once the directory entry is flushed
    for d in dirs:
        with contextlib.suppress(OSError):
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def append_private(path: Path, line: bytes) -> None:
    """Append one line with a single write (O_APPEND), creating the file 0600, never through a symlink."""
    fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive advisory lock so two wsctl runs do not interleave store writes.

    Waits at most `timeout` seconds for another run to finish, then fails with
    a StoreError instead of hanging behind a stuck process.
    """
    import fcntl

    fd = open_no_follow(path, os.O_RDWR | os.O_CREAT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{path.parent} is locked by another wsctl run (waited {timeout:.0f} s)",
                        hint="wait for it to finish; the lock goes away with the process",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
