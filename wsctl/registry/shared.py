"""One registry for the site: the part of each device's record that the hubs
of a federation share (docs/federation.md, "One registry for the site").

What is shared is what admits a device — profile, security profile, status,
secret hash, groups — so that a charger behind a load balancer, or failing
over, is admitted by whichever hub of its site it reaches, and an approval,
a block, a new secret or a removal made on one hub holds on all of them.
What a hub sees for itself (presence, boot reports, transactions, renewals,
its audit and its queue) stays its own.

The rule is last writer wins: every shared record carries when it last
changed and on which hub (``updated``, ``by``; ties go to the larger hub id),
and a hub takes a record only when it is newer than its own copy.  A removal
is a record too (a tombstone), so an older copy of a removed device cannot
bring it back.  Changes made here — by any verb, through the triggers of
schema version 3 — wait in ``registry_outbox`` until the hub has published
them; a change taken from the broker is never put back on it.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.ids import check_device_id, check_group_name
from wsctl.registry.db import Store
from wsctl.registry.devices import check_profile_name, check_security_profile, check_status
from wsctl.registry.secret_hash import is_stored_hash

#: version of the shared record's JSON
RECORD_VERSION = 1
#: a record dated further ahead than this (seconds) is refused: one hub's clock
#: gone wrong must not make its copy win over every later change
MAX_CLOCK_AHEAD = 300.0
#: groups of one device in a shared record, at most (a registry has no limit, a message has)
MAX_GROUPS = 256


@dataclass(frozen=True, slots=True)
class SharedRecord:
    device: str
    updated: float
    by: str
    removed: bool = False
    profile: str | None = None
    security_profile: int | None = None
    status: str | None = None
    secret_hash: str | None = None
    groups: tuple[str, ...] = ()

    def as_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": RECORD_VERSION, "device": self.device, "updated": self.updated, "by": self.by}
        if self.removed:
            doc["removed"] = True
            return doc
        doc.update(
            profile=self.profile,
            security_profile=self.security_profile,
            status=self.status,
            secret_hash=self.secret_hash,
            groups=list(self.groups),
        )
        return doc

    def same_data(self, other: SharedRecord) -> bool:
        return self.as_doc() | {"updated": 0, "by": ""} == other.as_doc() | {"updated": 0, "by": ""}


def newer(a: tuple[float, str], b: tuple[float, str]) -> bool:
    """Whether version ``a`` (updated, by) wins over ``b``."""
    return a > b


def parse_record(doc: Any, device_id: str, *, now: float) -> SharedRecord:
    """A shared record from the broker, every field checked as a local verb
    checks it; InvalidInput (one line) for anything else."""
    if not isinstance(doc, dict) or doc.get("v") != RECORD_VERSION:
        raise InvalidInput(f"not a version {RECORD_VERSION} shared registry record")
    if doc.get("device") != device_id:
        raise InvalidInput(f"record names device {doc.get('device')!r}, its topic {device_id!r}")
    updated, by = doc.get("updated"), doc.get("by")
    if isinstance(updated, bool) or not isinstance(updated, (int, float)) or not math.isfinite(updated):
        raise InvalidInput("record has no valid 'updated' time")
    if updated > now + MAX_CLOCK_AHEAD:
        raise InvalidInput(
            f"record dated {updated - now:.0f} s ahead of this hub's clock (more than {MAX_CLOCK_AHEAD:g})"
        )
    if not isinstance(by, str):
        raise InvalidInput("record has no 'by' hub")
    check_device_id(by)  # a hub id is a topic level, as a device id
    if doc.get("removed") is True:
        return SharedRecord(device_id, float(updated), by, removed=True)
    groups = doc.get("groups", [])
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS or not all(isinstance(g, str) for g in groups):
        raise InvalidInput(f"record's groups must be a list of at most {MAX_GROUPS} names")
    secret = doc.get("secret_hash")
    if secret is not None and not (isinstance(secret, str) and is_stored_hash(secret)):
        raise InvalidInput("record's secret_hash is not a scrypt hash this wsctl reads")
    security_profile = check_security_profile(doc.get("security_profile"))  # type: ignore[arg-type]
    if secret is not None and security_profile == 3:
        raise InvalidInput("record gives a secret to a security profile 3 device")
    return SharedRecord(
        device_id,
        float(updated),
        by,
        profile=check_profile_name(doc.get("profile")),  # type: ignore[arg-type]
        security_profile=security_profile,
        status=check_status(doc.get("status")),  # type: ignore[arg-type]
        secret_hash=secret,
        groups=tuple(sorted({check_group_name(g) for g in groups})),
    )


class SharedRegistry(Store):
    """The outbox, the shared records of this registry, and taking other hubs' records."""

    def unpublished(self, limit: int = 500) -> list[tuple[str, int]]:
        """(device, seq) of the changes made here and not yet published, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT device, seq FROM registry_outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(row[0], int(row[1])) for row in rows]

    def published(self, done: list[tuple[str, int]]) -> None:
        """Take published changes out of the outbox; a device changed again since stays in."""
        with self._db.write() as conn:
            conn.executemany("DELETE FROM registry_outbox WHERE device = ? AND seq = ?", done)

    def publish_again(self, devices: list[str]) -> None:
        """Put devices back in the outbox: the broker holds an older record of them."""
        with self._db.write() as conn:
            for device_id in devices:
                conn.execute("DELETE FROM registry_outbox WHERE device = ?", (device_id,))
                conn.execute("INSERT INTO registry_outbox (device) VALUES (?)", (device_id,))

    def shared_record(self, device_id: str, hub_id: str) -> SharedRecord | None:
        """What this registry says of ``device_id`` to the other hubs (a
        tombstone if it was removed; None if it never knew it)."""
        with self._db.read() as conn:
            return _shared(conn, device_id, hub_id)

    def take_shared(self, records: list[SharedRecord], hub_id: str) -> tuple[list[str], list[str]]:
        """Take the records newer than this registry's copy, in one transaction.

        Returns (devices changed, devices whose copy here is newer than the
        record): the caller publishes the latter again when the record was
        the broker's retained one, so an older copy does not stay there."""
        taken: list[str] = []
        ours_newer: list[str] = []
        with self._db.write() as conn:
            for record in records:
                mine = _shared(conn, record.device, hub_id)
                theirs = (record.updated, record.by)
                if mine is not None and not newer(theirs, (mine.updated, mine.by)):
                    if newer((mine.updated, mine.by), theirs) and not mine.same_data(record):
                        ours_newer.append(record.device)
                    continue
                _write(conn, record)
                taken.append(record.device)
            for device_id in taken:
                self._standings.forget(device_id)  # type: ignore[attr-defined]
        return taken, ours_newer


def _shared(conn: sqlite3.Connection, device_id: str, hub_id: str) -> SharedRecord | None:
    row = conn.execute(
        "SELECT profile, security_profile, status, secret_hash, coalesce(changed, created), changed_by,"
        " (SELECT group_concat(g.name, char(10)) FROM device_groups g WHERE g.device = d.id)"
        " FROM devices d WHERE id = ?",
        (device_id,),
    ).fetchone()
    if row is not None:
        groups = tuple(sorted(row[6].split("\n"))) if row[6] else ()
        return SharedRecord(
            device_id, float(row[4]), row[5] or hub_id, profile=row[0], security_profile=int(row[1]),
            status=row[2], secret_hash=row[3], groups=groups,
        )  # fmt: skip
    gone = conn.execute("SELECT at, by FROM removed_devices WHERE id = ?", (device_id,)).fetchone()
    if gone is None:
        return None
    return SharedRecord(device_id, float(gone[0]), gone[1] or hub_id, removed=True)


def _write(conn: sqlite3.Connection, record: SharedRecord) -> None:
    """Make this registry's copy ``record``; the triggers' outbox entry is
    taken out again (this change came from the broker)."""
    if record.removed:
        conn.execute("DELETE FROM devices WHERE id = ?", (record.device,))
        conn.execute(
            "INSERT OR REPLACE INTO removed_devices (id, at, by) VALUES (?, ?, ?)",
            (record.device, record.updated, record.by),
        )
    else:
        conn.execute(
            "INSERT INTO devices (id, profile, security_profile, status, secret_hash, created)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET profile = excluded.profile,"
            " security_profile = excluded.security_profile, status = excluded.status,"
            " secret_hash = excluded.secret_hash",
            (record.device, record.profile, record.security_profile, record.status, record.secret_hash, time.time()),
        )
        conn.execute("DELETE FROM device_groups WHERE device = ?", (record.device,))
        conn.executemany(
            "INSERT INTO device_groups (device, name) VALUES (?, ?)", [(record.device, g) for g in record.groups]
        )
        conn.execute(
            "UPDATE devices SET changed = ?, changed_by = ? WHERE id = ?", (record.updated, record.by, record.device)
        )
    conn.execute("DELETE FROM registry_outbox WHERE device = ?", (record.device,))
