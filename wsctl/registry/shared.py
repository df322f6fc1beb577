"""One registry for the site: what the hubs of a federation share of their
registries (docs/federation.md, "The shared registry").

What is shared is what admits a device — profile, security profile, status,
secret hash, groups — and the id tags OCPP Authorize is answered from, so
that a charger behind a load balancer, or failing over, is admitted by
whichever hub of its site it reaches and authorizes the same cards, and an
approval, a block, a new secret, a lost card or a removal made on one hub
holds on all of them.  What a hub sees for itself (presence, boot reports,
transactions, renewals, its audit and its queue) stays its own.

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
from wsctl.core.hub.topics import tag_level
from wsctl.core.profile.format import PLAIN_NAME
from wsctl.registry.db import Store
from wsctl.registry.devices import check_profile_name, check_security_profile, check_status
from wsctl.registry.id_tags import ID_TAG_STATUSES, check_id_tag, upsert_id_tag
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

    def same_data(self, other: Any) -> bool:
        if not isinstance(other, SharedRecord):
            return False
        return self.as_doc() | {"updated": 0, "by": ""} == other.as_doc() | {"updated": 0, "by": ""}


@dataclass(frozen=True, slots=True)
class SharedTag:
    """An id tag as the hubs share it (``expires``: wall-clock seconds or None)."""

    tag: str
    updated: float
    by: str
    removed: bool = False
    status: str | None = None
    expires: float | None = None

    def as_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": RECORD_VERSION, "id_tag": self.tag, "updated": self.updated, "by": self.by}
        if self.removed:
            doc["removed"] = True
        else:
            doc.update(status=self.status, expires=self.expires)
        return doc

    def same_data(self, other: Any) -> bool:
        return isinstance(other, SharedTag) and (self.removed, self.status, self.expires) == (
            other.removed,
            other.status,
            other.expires,
        )


Shared = SharedRecord | SharedTag


def kind_key(record: Shared) -> tuple[str, str]:
    return ("device", record.device) if isinstance(record, SharedRecord) else ("id-tag", record.tag)


def _time(value: Any) -> float | None:
    """``value`` as a finite float, else None (an int too large for a float included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        found = float(value)
    except OverflowError:
        return None
    return found if math.isfinite(found) else None


def _version(doc: Any, now: float) -> tuple[float, str]:
    if not isinstance(doc, dict) or doc.get("v") != RECORD_VERSION:
        raise InvalidInput(f"not a version {RECORD_VERSION} shared registry record")
    updated, by = _time(doc.get("updated")), doc.get("by")
    if updated is None or updated < 0:
        raise InvalidInput("record has no valid 'updated' time")
    if updated > now + MAX_CLOCK_AHEAD:
        raise InvalidInput(
            f"record dated {updated - now:.0f} s ahead of this hub's clock (more than {MAX_CLOCK_AHEAD:g})"
        )
    if not isinstance(by, str):
        raise InvalidInput("record has no 'by' hub")
    check_device_id(by)  # a hub id is a topic level, as a device id
    return float(updated), by


def parse_tag(doc: Any, level: str, *, now: float) -> SharedTag:
    """A shared id tag from the broker, checked as `wsctl hub id-tags add` checks it."""
    updated, by = _version(doc, now)
    tag = doc.get("id_tag")
    check_id_tag(tag)
    if tag_level(tag) != level:
        raise InvalidInput(f"record names id tag {tag!r}, not the one of its topic ({level!r})")
    if doc.get("removed") is True:
        return SharedTag(tag, updated, by, removed=True)
    status, expires = doc.get("status"), doc.get("expires")
    if status not in ID_TAG_STATUSES:
        raise InvalidInput(f"id tag status must be one of {', '.join(ID_TAG_STATUSES)}")
    when = None if expires is None else _time(expires)
    if expires is not None and when is None:
        raise InvalidInput("id tag's expires must be a time or null")
    return SharedTag(tag, updated, by, status=status, expires=when)


def parse_record(doc: Any, device_id: str, *, now: float) -> SharedRecord:
    """A shared device record from the broker, every field checked as a local
    verb checks it; InvalidInput (one line) for anything else."""
    updated, by = _version(doc, now)
    if doc.get("device") != device_id:
        raise InvalidInput(f"record names device {doc.get('device')!r}, its topic {device_id!r}")
    if doc.get("removed") is True:
        return SharedRecord(device_id, updated, by, removed=True)
    groups = doc.get("groups", [])
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS or not all(isinstance(g, str) for g in groups):
        raise InvalidInput(f"record's groups must be a list of at most {MAX_GROUPS} names")
    secret = doc.get("secret_hash")
    if secret is not None and not (isinstance(secret, str) and is_stored_hash(secret)):
        raise InvalidInput("record's secret_hash is not a scrypt hash this wsctl reads")
    security_profile = check_security_profile(doc.get("security_profile"))
    if secret is not None and security_profile == 3:
        raise InvalidInput("record gives a secret to a security profile 3 device")
    return SharedRecord(
        device_id,
        updated,
        by,
        profile=_profile_name(doc.get("profile")),
        security_profile=security_profile,
        status=check_status(doc.get("status")),
        secret_hash=secret,
        groups=tuple(sorted({check_group_name(g) for g in groups})),
    )


def _profile_name(profile: Any) -> str:
    """A profile by name, never a file path: another hub's record must not make
    this hub load a file from its own disk."""
    check_profile_name(profile)
    if not is_profile_name(profile):
        raise InvalidInput(f"record's profile {profile!r} is not a profile name (a path is not shared)")
    return str(profile)


def is_profile_name(profile: str) -> bool:
    """A profile named, not a file: what the hubs of a site may share."""
    return bool(PLAIN_NAME.fullmatch(profile)) and not profile.endswith(".toml")


#: how restrictive a status is: where two registries from before sharing disagree
#: (both version 0), the more restrictive one wins
_RESTRICTIVE = {"approved": 0, "pending": 1, "blocked": 2, "Accepted": 0, "Expired": 1, "Blocked": 2}


def _wins(theirs: Shared, mine: Shared) -> bool:
    """Whether ``theirs`` replaces ``mine``: newer, or, both from before sharing
    (version 0) and different, more restrictive (a block made before the upgrade
    must not be lost to whichever hub migrated last)."""
    if theirs.updated == 0 and mine.updated == 0 and not mine.same_data(theirs):
        rank_theirs = -1 if theirs.removed else _RESTRICTIVE.get(str(theirs.status), 0)
        rank_mine = -1 if mine.removed else _RESTRICTIVE.get(str(mine.status), 0)
        if rank_theirs != rank_mine:
            return rank_theirs > rank_mine
    return (theirs.updated, theirs.by) > (mine.updated, mine.by)  # newer; a tie to the larger hub id


class SharedRegistry(Store):
    """The outbox, the shared records of this registry, and taking other hubs' records.

    A record is a device's (`SharedRecord`) or an id tag's (`SharedTag`);
    outbox entries are (kind, key, seq), kind "device" or "id-tag"."""

    def unpublished(self, limit: int = 500) -> list[tuple[str, str, int]]:
        """(kind, key, seq) of the changes made here and not yet published, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT kind, key, seq FROM registry_outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(row[0], row[1], int(row[2])) for row in rows]

    def published(self, done: list[tuple[str, str, int]]) -> None:
        """Take published changes out of the outbox; one changed again since stays in."""
        with self._db.write() as conn:
            conn.executemany("DELETE FROM registry_outbox WHERE kind = ? AND key = ? AND seq = ?", done)

    def publish_again(self, items: list[tuple[str, str]]) -> None:
        """Put (kind, key) back in the outbox: the broker holds an older record of them."""
        with self._db.write() as conn:
            for kind, key in items:
                _to_outbox(conn, kind, key)

    def publish_missing(self, seen: set[tuple[str, str]]) -> int:
        """Put in the outbox every record of this registry (tombstones too) whose
        (kind, key) is not in ``seen``, the records the broker sent since the
        hub connected; returns how many."""
        with self._db.write() as conn:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS shared_seen (kind TEXT, key TEXT, PRIMARY KEY (kind, key))"
                " WITHOUT ROWID"
            )
            conn.execute("DELETE FROM temp.shared_seen")
            conn.executemany("INSERT OR IGNORE INTO temp.shared_seen (kind, key) VALUES (?, ?)", sorted(seen))
            added = conn.execute(
                "INSERT INTO registry_outbox (kind, key) SELECT mine.kind, mine.key FROM ("
                " SELECT 'device' AS kind, id AS key FROM devices UNION ALL SELECT 'id-tag', id_tag FROM id_tags"
                " UNION ALL SELECT kind, key FROM removed) AS mine"
                " WHERE NOT EXISTS (SELECT 1 FROM temp.shared_seen s WHERE s.kind = mine.kind AND s.key = mine.key)"
                " AND NOT EXISTS (SELECT 1 FROM registry_outbox o WHERE o.kind = mine.kind AND o.key = mine.key)"
            ).rowcount
            conn.execute("DELETE FROM temp.shared_seen")
        return int(added)

    def shared_record(self, device_id: str, hub_id: str) -> SharedRecord | None:
        """What this registry says of ``device_id`` to the other hubs (a
        tombstone if it was removed; None if it never knew it)."""
        with self._db.read() as conn:
            return _device(conn, device_id, hub_id)

    def shared(self, kind: str, key: str, hub_id: str) -> Shared | None:
        with self._db.read() as conn:
            return _read(conn, kind, key, hub_id)

    def take_shared(self, records: list[Shared], hub_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Take the records newer than this registry's copy, in one transaction.

        Returns ((kind, key) taken, (kind, key) whose copy here is newer than
        the record): the caller publishes the latter again when the record was
        the broker's retained one, so an older copy does not stay there."""
        taken: list[tuple[str, str]] = []
        ours_newer: list[tuple[str, str]] = []
        with self._db.write() as conn:
            for record in records:
                kind, key = kind_key(record)
                mine = _read(conn, kind, key, hub_id)
                if mine is not None and not _wins(record, mine):
                    if not mine.same_data(record) or (mine.updated, mine.by) != (record.updated, record.by):
                        ours_newer.append((kind, key))  # the sender, or the broker, holds an older copy
                    continue
                if isinstance(record, SharedRecord):
                    _write_device(conn, record)
                else:
                    _write_tag(conn, record)
                conn.execute("DELETE FROM registry_outbox WHERE kind = ? AND key = ?", (kind, key))
                taken.append((kind, key))
            for kind, key in taken:
                if kind == "device":
                    self._standings.forget(key)  # type: ignore[attr-defined]
        return taken, ours_newer


def _to_outbox(conn: sqlite3.Connection, kind: str, key: str) -> None:
    conn.execute("DELETE FROM registry_outbox WHERE kind = ? AND key = ?", (kind, key))
    conn.execute("INSERT INTO registry_outbox (kind, key) VALUES (?, ?)", (kind, key))


def _removed(conn: sqlite3.Connection, kind: str, key: str) -> tuple[float, str | None] | None:
    gone = conn.execute("SELECT at, by FROM removed WHERE kind = ? AND key = ?", (kind, key)).fetchone()
    return None if gone is None else (float(gone[0]), gone[1])


def _read(conn: sqlite3.Connection, kind: str, key: str, hub_id: str) -> Shared | None:
    return _device(conn, key, hub_id) if kind == "device" else _tag(conn, key, hub_id)


def _device(conn: sqlite3.Connection, device_id: str, hub_id: str) -> SharedRecord | None:
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
    gone = _removed(conn, "device", device_id)
    return None if gone is None else SharedRecord(device_id, gone[0], gone[1] or hub_id, removed=True)


def _tag(conn: sqlite3.Connection, tag: str, hub_id: str) -> SharedTag | None:
    row = conn.execute("SELECT status, expires, coalesce(changed, 0), changed_by FROM id_tags WHERE id_tag = ?", (tag,))
    found = row.fetchone()
    if found is not None:
        expires = None if found[1] is None else float(found[1])
        return SharedTag(tag, float(found[2]), found[3] or hub_id, status=found[0], expires=expires)
    gone = _removed(conn, "id-tag", tag)
    return None if gone is None else SharedTag(tag, gone[0], gone[1] or hub_id, removed=True)


def _tombstone(conn: sqlite3.Connection, kind: str, key: str, at: float, by: str) -> None:
    conn.execute("DELETE FROM removed WHERE kind = ? AND key = ?", (kind, key))
    conn.execute("INSERT INTO removed (kind, key, at, by) VALUES (?, ?, ?, ?)", (kind, key, at, by))


def _write_device(conn: sqlite3.Connection, record: SharedRecord) -> None:
    """Make this registry's copy ``record`` (the caller takes the triggers'
    outbox entry out again: this change came from the broker)."""
    if record.removed:
        conn.execute("DELETE FROM devices WHERE id = ?", (record.device,))
        _tombstone(conn, "device", record.device, record.updated, record.by)
        return
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


def _write_tag(conn: sqlite3.Connection, record: SharedTag) -> None:
    if record.removed:
        conn.execute("DELETE FROM id_tags WHERE id_tag = ?", (record.tag,))
        _tombstone(conn, "id-tag", record.tag, record.updated, record.by)
        return
    upsert_id_tag(conn, record.tag, str(record.status), record.expires)
    conn.execute(
        "UPDATE id_tags SET changed = ?, changed_by = ? WHERE id_tag = ?", (record.updated, record.by, record.tag)
    )
