"""The registry file: opening it safely, migrating it, and short transactions.

One SQLite file in WAL mode: readers never wait for the writer, and a second
process (`wsctl hub devices add` while the hub runs) writes between the hub's
own short transactions, waiting up to `BUSY_TIMEOUT` for the lock.  Every write
is one ``BEGIN IMMEDIATE ... COMMIT``: the write lock is taken up front, so two
writers queue instead of failing on a read-to-write upgrade.

A path that is not a wsctl registry (not SQLite, another application's database,
a schema newer than this wsctl reads) is refused before anything is written to it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from wsctl.core.errors import InvalidInput, RegistryError, WsctlError
from wsctl.core.hub.schema import APPLICATION_ID, MIGRATIONS, pending_migrations

log = logging.getLogger("wsctl.registry")

#: seconds a write waits for another process's transaction before giving up
BUSY_TIMEOUT = 5.0

NEW_REGISTRY_HINT = "create one with 'wsctl hub devices add ID --profile P --registry FILE'"


def translate(exc: sqlite3.Error, where: str) -> WsctlError:
    """One line for an SQLite error: a damaged file is invalid input, the rest a registry error."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return InvalidInput(f"{where}: not a wsctl hub registry, or damaged ({text})")
    if "locked" in text or "busy" in text:
        return RegistryError(
            f"{where}: registry busy: another process held its write lock for over {BUSY_TIMEOUT:g} s",
            hint="try again; a long write by another wsctl process is holding it",
        )
    if "readonly" in text or "read-only" in text:
        return RegistryError(f"{where}: registry is read-only for this user ({text})")
    return RegistryError(f"{where}: registry error: {text}")


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it: SQLite gives its -wal and -shm
    files the main file's mode, so all three stay private."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise InvalidInput(f"{path}: cannot create the registry: directory {path.parent} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot create the registry: {exc.strerror or exc}") from None


def _check_path(path: Path, create: bool) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not create:
            raise InvalidInput(f"{path}: no such hub registry", hint=NEW_REGISTRY_HINT) from None
        _create_private(path)
        return
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the registry: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{path}: not a regular file, so not a hub registry")
    _make_private(path, mode)


def _make_private(path: Path, mode: int) -> None:
    """An existing registry others may read (copied, or made by hand) is made 0600: it
    holds the hashes of device secrets.  Only the owner may change the mode."""
    if not mode & 0o077 or path.stat().st_uid != os.geteuid():
        return
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            os.chmod(name, 0o600)
        except FileNotFoundError:
            continue
    log.warning(
        "%s was readable by others (mode %o); it is now 0600: it holds device secret hashes", path, mode & 0o777
    )


def _statements(script: str) -> Iterator[str]:
    """The script's statements one by one (a trigger's inner ``;`` stays inside it)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {pending.strip()[:60]!r}")


class Database:
    """One connection to one registry file, shared by the threads of one process."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        # one connection, used by the hub's worker threads in turn
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, create: bool = True, migrations: Sequence[str] = MIGRATIONS
    ) -> Database:
        path = Path(path)
        _check_path(path, create)
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise translate(exc, str(path)) from None
        db = cls(path, conn)
        try:
            conn.row_factory = sqlite3.Row
            db._identify()
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            db._use_wal()
            conn.execute("PRAGMA synchronous = NORMAL")
            db._migrate(migrations)
        except sqlite3.Error as exc:
            conn.close()
            raise translate(exc, str(path)) from None
        except BaseException:
            conn.close()
            raise
        return db

    def _identify(self) -> None:
        """Refuse an SQLite file that some other program owns (before writing to it)."""
        # one statement, so one snapshot: another process may be creating the registry
        # this moment, and its tables and its application_id arrive in one commit
        app, version, tables = self._conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id()),"
            " (SELECT user_version FROM pragma_user_version()), (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        if app == APPLICATION_ID:
            return
        if app == 0 and version == 0 and tables == 0:
            return  # a new, empty file: the first migration makes it a registry
        raise InvalidInput(f"{self.path}: an SQLite database, but not a wsctl hub registry")

    def _use_wal(self) -> None:
        """Switch a new file to WAL.  The switch needs the file to itself and SQLite does
        not wait for that (no busy handler): while other processes open the same new
        registry it is retried, within the same bound as any write."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        if str(mode).lower() != "wal":
            raise RegistryError(f"{self.path}: the registry cannot use WAL mode on this file system")

    @property
    def version(self) -> int:
        with self.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[str]) -> None:
        """Apply each missing migration in a transaction of its own, with its version.

        The version is read again under the write lock: another process opening
        the same old file at the same moment has then already migrated it.
        """
        where = str(self.path)
        current = self._conn.execute("PRAGMA user_version").fetchone()[0]
        pending_migrations(current, where, migrations)  # a newer file is refused before any lock is taken
        while True:
            with self.write() as conn:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                todo = pending_migrations(current, where, migrations)
                if not todo:
                    return
                version, script = todo[0]
                try:
                    for statement in _statements(script):
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    raise RegistryError(
                        f"{where}: migrating the registry to schema version {version} failed, "
                        f"nothing of it was applied: {exc}"
                    ) from None
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise translate(exc, str(self.path)) from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    if self._conn.in_transaction:  # SQLite ends some failed transactions itself
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                raise  # the caller turns a constraint into its own message
            except sqlite3.Error as exc:
                raise translate(exc, str(self.path)) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Store:
    """What every part of the registry shares: the open file."""

    _db: Database
