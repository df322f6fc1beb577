"""Enrollment codes and enrollments waiting for a person: `enroll.db` next to the PKI store.

SQLite rather than the store's journal: a code is spent by one conditional
UPDATE (``... WHERE used_at IS NULL``), which is atomic between the EST server
and a `wsctl certs` command running at the same time, without taking the
store lock (held while signing) for every password check.  Codes are stored
only as scrypt hashes (`wsctl.registry.secret_hash`), bound to the name they
were issued for, and expire.  The file is 0600 like the rest of the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from wsctl.core.errors import InvalidInput, StoreError
from wsctl.pki import builder, fsutil
from wsctl.registry.secret_hash import generate_secret, hash_secret, verify_secret

FILE_NAME = "enroll.db"
BUSY_TIMEOUT = 5.0
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS codes (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, dns TEXT NOT NULL, ips TEXT NOT NULL,
  role TEXT, days INTEGER, secret_hash TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
  used_at REAL, used_by TEXT);
CREATE INDEX IF NOT EXISTS codes_name ON codes(name);
CREATE TABLE IF NOT EXISTS pending (
  id TEXT PRIMARY KEY, label TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, auth TEXT NOT NULL,
  client TEXT NOT NULL, csr BLOB NOT NULL, csr_sha256 TEXT NOT NULL, dns TEXT NOT NULL, role TEXT,
  days INTEGER, status TEXT NOT NULL, serial TEXT, created REAL NOT NULL, decided REAL, expires REAL);
CREATE INDEX IF NOT EXISTS pending_csr ON pending(label, csr_sha256);
"""
#: version 1 -> 2: pending enrollments expire (NULL: a version-1 request, never)
_TO_V2 = "ALTER TABLE pending ADD COLUMN expires REAL"


@dataclasses.dataclass(frozen=True)
class Code:
    id: int
    name: str
    kind: str
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    role: str | None
    days: int | None
    expires: float
    used_at: float | None


@dataclasses.dataclass(frozen=True)
class Pending:
    id: str
    label: str
    kind: str
    name: str
    auth: str
    client: str
    csr: bytes
    csr_sha256: str
    dns: tuple[str, ...]
    role: str | None
    days: int | None
    status: str  # pending | approved | rejected | expired
    serial: str | None
    created: float
    #: after this an undecided request is refused (None: never)
    expires: float | None = None

    def expired(self, now: float) -> bool:
        return self.status == "pending" and self.expires is not None and self.expires <= now


def _now() -> float:
    return builder.now().timestamp()


class EnrollmentBook:
    """Codes and pending enrollments of one store (`store_dir/enroll.db`)."""

    def __init__(self, store_dir: str | os.PathLike) -> None:
        self.root = Path(store_dir)
        self.path = self.root / FILE_NAME

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One short connection per operation: the server calls from worker threads."""
        fsutil.refuse_symlinks(self.root, self.path)
        if not self.path.exists():
            try:
                os.close(fsutil.open_no_follow(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open ({exc})") from None
        try:
            db.row_factory = sqlite3.Row
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._migrate(db)
            yield db
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: {exc}", hint="it holds only codes and pending requests; move it aside"
            ) from None
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Create or upgrade the file, under the write lock: the EST server and a `wsctl
        certs` command may open an old file at the same moment."""
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: written by a newer wsctl (version {version})")
            if version == 0:
                for statement in _SCHEMA.strip().split(";\n"):
                    db.execute(statement)
            elif version == 1:
                db.execute(_TO_V2)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- codes -----------------------------------------------------------
    def issue_code(
        self, name: str, *, kind: str, ttl: int, dns=(), ips=(), role: str | None = None, days: int | None = None
    ) -> tuple[str, Code]:
        """A new one-time code for NAME (the clear text, returned once) and its record.
        Codes issued earlier for NAME and not used are void from now on."""
        secret = generate_secret()
        now = _now()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE codes SET used_at=?, used_by='replaced' WHERE name=? AND used_at IS NULL", (now, name))
            cur = db.execute(
                "INSERT INTO codes (name, kind, dns, ips, role, days, secret_hash, created, expires)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    kind,
                    json.dumps(list(dns)),
                    json.dumps(list(ips)),
                    role,
                    days,
                    hash_secret(secret),
                    now,
                    now + ttl,
                ),
            )
            db.execute("COMMIT")
            code_id = int(cur.lastrowid or 0)
        return secret, Code(code_id, name, kind, tuple(dns), tuple(ips), role, days, now + ttl, None)

    def check_code(self, name: str, secret: str) -> tuple[Code | None, str]:
        """(the code, "ok") when SECRET is NAME's newest code and still usable; else (None, why).
        One scrypt check whether or not NAME has a code, so timing says nothing."""
        with self._db() as db:
            row = db.execute("SELECT * FROM codes WHERE name=? ORDER BY id DESC LIMIT 1", (name,)).fetchone()
        if not verify_secret(secret, row["secret_hash"] if row else None) or row is None:
            return None, f"no valid enrollment code for {name}"
        code = _code(row)
        if code.used_at is not None:
            return None, f"the enrollment code for {name} was already used (codes are single use)"
        if code.expires <= _now():
            return None, f"the enrollment code for {name} expired"
        return code, "ok"

    def spend_code(self, code: Code, by: str) -> bool:
        """Mark CODE used; False if another request spent it (or it expired) first."""
        with self._db() as db:
            cur = db.execute(
                "UPDATE codes SET used_at=?, used_by=? WHERE id=? AND used_at IS NULL AND expires > ?",
                (_now(), by, code.id, _now()),
            )
            return cur.rowcount == 1

    def unspend_code(self, code: Code) -> None:
        """Give a code back when the enrollment it was spent on failed: single use means one certificate."""
        with self._db() as db:
            db.execute("UPDATE codes SET used_at=NULL, used_by=NULL WHERE id=? AND used_by != 'replaced'", (code.id,))

    def codes(self) -> list[Code]:
        with self._db() as db:
            return [_code(r) for r in db.execute("SELECT * FROM codes ORDER BY id")]

    # -- pending enrollments --------------------------------------------------
    def find_pending(self, label: str, csr_sha256: str) -> Pending | None:
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM pending WHERE label=? AND csr_sha256=? ORDER BY created DESC LIMIT 1",
                (label, csr_sha256),
            ).fetchone()
        return _pending(row) if row else None

    def add_pending(self, *, ttl: float | None = None, **fields) -> Pending:
        """A new request waiting for an operator; undecided after ``ttl`` seconds, it is refused."""
        now = _now()
        expires = None if ttl is None else now + ttl
        record = Pending(id=secrets.token_hex(4), status="pending", serial=None, created=now, expires=expires, **fields)
        row = dataclasses.asdict(record)
        row["dns"] = json.dumps(list(record.dns))
        with self._db() as db:
            db.execute(
                f"INSERT INTO pending ({', '.join(row)}, decided) VALUES ({', '.join('?' * len(row))}, NULL)",
                tuple(row.values()),
            )
        return record

    def expire_due(self) -> list[Pending]:
        """Mark the undecided requests whose time is up as expired; returns them, each
        once (so each expiry is audited once, by whoever noticed it)."""
        now = _now()
        with self._db() as db:
            rows = db.execute(
                "UPDATE pending SET status='expired', decided=? WHERE status='pending' AND expires <= ? RETURNING *",
                (now, now),
            ).fetchall()
        return [_pending(r) for r in rows]

    def pending(self, *, include_decided: bool = False) -> list[Pending]:
        where = "" if include_decided else " WHERE status='pending'"
        with self._db() as db:
            return [_pending(r) for r in db.execute(f"SELECT * FROM pending{where} ORDER BY created")]

    def get_pending(self, request_id: str) -> Pending:
        with self._db() as db:
            row = db.execute("SELECT * FROM pending WHERE id=?", (request_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no pending enrollment {request_id!r}", hint="'wsctl certs pending' lists them")
        return _pending(row)

    def decide(self, request_id: str, status: str, serial: str | None = None) -> bool:
        """Approve (with the serial issued), reject or expire; False if it was decided
        meanwhile, or (approving or rejecting) its time is up."""
        now = _now()
        in_time = "" if status == "expired" else " AND (expires IS NULL OR expires > ?)"
        with self._db() as db:
            cur = db.execute(
                f"UPDATE pending SET status=?, serial=?, decided=? WHERE id=? AND status='pending'{in_time}",
                (status, serial, now, request_id, *(() if status == "expired" else (now,))),
            )
            return cur.rowcount == 1


def _code(row: sqlite3.Row) -> Code:
    return Code(
        row["id"],
        row["name"],
        row["kind"],
        tuple(json.loads(row["dns"])),
        tuple(json.loads(row["ips"])),
        row["role"],
        row["days"],
        row["expires"],
        row["used_at"],
    )


def _pending(row: sqlite3.Row) -> Pending:
    fields = {f.name: row[f.name] for f in dataclasses.fields(Pending)}
    fields["dns"] = tuple(json.loads(fields["dns"]))
    return Pending(**fields)
