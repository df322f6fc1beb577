"""Multi-file commits that survive a crash (kill -9, power loss) at any step.

A store operation changes several files (a key, a certificate, a chain, the
index, the CRL).  Every new file is first written to a fsynced temporary;
then the list of steps is written to `ROOT/.journal` (atomically), which is the
commit point; then the steps run (`os.replace` of each temporary, removals,
directory moves); then the journal is deleted.

`recover(root)`, run under the store lock before anything reads or writes the
store, finishes a commit a crash interrupted: with `.journal` present every
step is replayed forward (each step is idempotent), so the store ends up
with all of the new files, never a mix.  If a step fails in the running process
(a full disk), the journal is renamed to `.journal-rollback` (a rename needs no
space) and the steps are undone from hard-linked backups; a crash during that
is finished backward by `recover`.  Temporaries and backups of runs killed
before their commit point are swept by `sweep_strays`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from wsctl.core.errors import StoreError
from wsctl.pki import fsutil

JOURNAL = ".journal"
ROLLBACK_JOURNAL = ".journal-rollback"
JOURNAL_FORMAT = "wsctl-pki-journal/1"
#: directories a commit stages whole (a new CA) before moving them into place
STAGING_PREFIX = ".staging-"


@dataclass
class Step:
    op: str  # "replace" (src -> dst), "remove" (dst), "move" (src -> dst, dst must not exist)
    dst: Path
    src: Path | None = None
    backup: Path | None = None
    existed: bool = False

    def to_json(self, root: Path) -> dict:
        # tempfile hands back absolute paths even for a relative store directory
        rel = lambda p: None if p is None else os.path.relpath(os.path.abspath(p), os.path.abspath(root))  # noqa: E731
        return {
            "op": self.op,
            "src": rel(self.src),
            "dst": rel(self.dst),
            "backup": rel(self.backup),
            "existed": self.existed,
        }

    @classmethod
    def from_json(cls, obj: dict, root: Path) -> Step:
        path = lambda key: None if obj.get(key) is None else root / obj[key]  # noqa: E731
        return cls(
            op=obj["op"], dst=path("dst"), src=path("src"), backup=path("backup"), existed=bool(obj.get("existed"))
        )


def _forward(step: Step) -> None:
    """Do `step` unless it is done already (so a replay after a crash is safe)."""
    if step.op == "replace":
        if step.src.exists():
            os.replace(step.src, step.dst)
    elif step.op == "remove":
        if step.dst.exists() or step.dst.is_symlink():
            os.unlink(step.dst)
    elif step.op == "move":
        if step.src.exists() and not step.dst.exists():
            os.rename(step.src, step.dst)
    else:
        raise StoreError(f"unknown journal step {step.op!r}")


def _backward(step: Step) -> None:
    """Undo `step` if it was done (idempotent too)."""
    if step.op == "move":
        if step.dst.exists() and not step.src.exists():
            os.rename(step.dst, step.src)
        return
    not_done = step.src.exists() if step.op == "replace" else step.dst.exists()
    if not_done:  # the target is untouched: only the staging is left to drop
        _discard([step.backup, step.src if step.op == "replace" else None])
    elif step.backup is not None and step.backup.exists():
        os.replace(step.backup, step.dst)
    elif step.op == "replace" and not step.existed and step.dst.exists():
        os.unlink(step.dst)


def _discard(paths) -> None:
    for p in paths:
        if p is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def _changed_dirs(steps: list[Step]) -> set[Path]:
    return {p.parent for s in steps for p in (s.dst, s.src) if p is not None}


class Transaction:
    """Stage file writes, removals and directory moves; then do all of them or none.

    With `root` (the store directory) the commit is journaled there and every
    path is checked for symlinks; without it (files outside any store) a crash
    can leave a temporary behind, but never a half-written file.
    Use as a context manager: committed when the block ends without an
    exception, discarded (temporaries and directories made for them removed)
    when it raises.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._steps: list[Step] = []
        self._created_dirs: list[Path] = []
        self._done = False

    def _check(self, path: Path) -> None:
        if self.root is not None:
            fsutil.refuse_symlinks(self.root, path)

    def write(self, target: Path, data: bytes, mode: int = fsutil.FILE_MODE) -> None:
        self._check(target)
        self._created_dirs.extend(fsutil.ensure_private_dir(target.parent))
        self._steps.append(Step("replace", target, src=fsutil.write_temp(target, data, mode)))

    def remove(self, target: Path) -> None:
        """Delete `target` as part of the commit (restored if the commit fails)."""
        self._check(target)
        self._steps.append(Step("remove", target))

    def move(self, src: Path, dst: Path) -> None:
        """Rename file or directory `src` to `dst` (which must not exist) as part of the commit."""
        self._check(src)
        self._check(dst)
        self._created_dirs.extend(fsutil.ensure_private_dir(dst.parent))
        self._steps.append(Step("move", dst, src=src))

    def _plan(self) -> list[Step]:
        steps = []
        for step in self._steps:
            step.existed = step.dst.exists()
            if step.op == "remove" and not step.existed:
                continue
            if step.op in ("replace", "remove") and step.existed:
                step.backup = step.dst.with_name(f".{step.dst.name}.bak-{os.getpid()}")
            steps.append(step)
        return steps

    def commit(self) -> None:
        steps = self._plan()
        journal = None
        try:
            if self.root is not None:
                journal = _write_journal(self.root, steps)
            for step in steps:
                if step.backup is not None:
                    _discard([step.backup])
                    os.link(step.dst, step.backup)
            for step in steps:
                _forward(step)
        except BaseException:
            if journal is not None:
                os.rename(journal, self.root / ROLLBACK_JOURNAL)
            undone = True
            for step in reversed(steps):
                try:
                    _backward(step)
                except OSError:
                    undone = False
            if journal is not None and undone:
                _discard([self.root / ROLLBACK_JOURNAL])
            # else the rollback journal stays, and the next open of the store finishes the undo
            self.rollback()
            raise
        fsutil.fsync_dirs(_changed_dirs(steps))
        if journal is not None:
            os.unlink(journal)
            fsutil.fsync_dirs([self.root])
        _discard(s.backup for s in steps)
        self._steps.clear()
        self._done = True

    def rollback(self) -> None:
        """Discard what was staged and not committed."""
        _discard(s.src for s in self._steps if s.op == "replace")
        self._steps.clear()
        for d in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created_dirs.clear()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._done:
            self.commit()
        elif exc_type is not None:
            self.rollback()


def _write_journal(root: Path, steps: list[Step]) -> Path:
    journal = root / JOURNAL
    data = json.dumps({"format": JOURNAL_FORMAT, "steps": [s.to_json(root) for s in steps]}).encode()
    temp = fsutil.write_temp(journal, data)
    try:
        os.replace(temp, journal)
    except BaseException:
        _discard([temp])
        raise
    fsutil.fsync_dirs([root])
    return journal


def _read_journal(path: Path, root: Path) -> list[Step]:
    try:
        obj = json.loads(fsutil.read_no_follow(root, path))
        if obj.get("format") != JOURNAL_FORMAT:
            raise ValueError(f"not a {JOURNAL_FORMAT} document")
        return [Step.from_json(s, root) for s in obj["steps"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(
            f"{path} is unreadable ({type(exc).__name__}); an interrupted change cannot be finished",
            hint="compare the store with a backup, then delete the journal file",
        ) from None


def pending(root: Path) -> bool:
    return (root / JOURNAL).exists() or (root / ROLLBACK_JOURNAL).exists()


def recover(root: Path) -> str | None:
    """Finish or undo a commit a crash interrupted; "finished", "undone", or None if none was pending.

    The caller holds the store lock.
    """
    rollback, journal = root / ROLLBACK_JOURNAL, root / JOURNAL
    if rollback.exists():
        steps = _read_journal(rollback, root)
        for step in reversed(steps):
            _backward(step)
        fsutil.fsync_dirs(_changed_dirs(steps))
        os.unlink(rollback)
        outcome = "undone"
    elif journal.exists():
        steps = _read_journal(journal, root)
        for step in steps:
            _forward(step)
        fsutil.fsync_dirs(_changed_dirs(steps))
        _discard(s.backup for s in steps)
        os.unlink(journal)
        outcome = "finished"
    else:
        return None
    fsutil.fsync_dirs([root])
    return outcome


def sweep_strays(dirs, file_names) -> list[Path]:
    """Delete temporaries and backups of `file_names`, and staging directories, in `dirs` (not below).

    They can hold private keys.  The caller holds the store lock, and no
    journal is pending, so none of them belongs to a running commit.  Only the
    store's own directories are given: a store inside a home or project
    directory must not sweep files of other programs.
    """
    names = "|".join(re.escape(n) for n in (*file_names, JOURNAL))
    stray = re.compile(rf"^\.({names})\.(.+\.tmp|bak-\d+)$")
    swept = []
    for d in dirs:
        try:
            children = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for child in children:  # a Path only for what is swept: every leaf directory is scanned
            is_dir = child.is_dir(follow_symlinks=False)
            if is_dir and child.name.startswith(STAGING_PREFIX):
                shutil.rmtree(child.path)
            elif not is_dir and stray.match(child.name):
                os.unlink(child.path)
            else:
                continue
            swept.append(Path(child.path))
    return swept
