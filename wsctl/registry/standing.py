"""A device's standing — profile, security profile, status — from memory.

Admission reads it for every connection (operators' included) and the central
side for every message a device sends; the full `DeviceRecord` costs a query
with two subqueries each time, while the standing changes only when a device
is added, approved, blocked or removed.  This process forgets an entry when it
changes one itself; another process (`wsctl hub devices block` while the hub
runs) is noticed by SQLite's ``PRAGMA data_version``, which changes whenever
another connection committed to the file: then everything is forgotten and
read again.  So a lookup costs one pragma, and never answers from before a
commit another process finished before the lookup began.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Standing:
    profile: str
    security_profile: int
    status: str


class StandingCache:
    """Standings of registered devices (unknown ids are never kept: those come
    from whoever dials)."""

    __slots__ = ("_known", "_version")

    def __init__(self) -> None:
        self._known: dict[str, Standing] = {}
        self._version: int | None = None

    def lookup(self, conn: sqlite3.Connection, device_id: str) -> Standing | None:
        """The device's standing; ``conn`` is the registry's connection, held by the caller."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._known.clear()
            self._version = version
        found = self._known.get(device_id)
        if found is not None:
            return found
        row = conn.execute(
            "SELECT profile, security_profile, status FROM devices WHERE id = ?", (device_id,)
        ).fetchone()
        if row is None:
            return None
        # one string per profile and status, not one per device
        found = self._known[device_id] = Standing(sys.intern(row[0]), int(row[1]), sys.intern(row[2]))
        return found

    def forget(self, device_id: str) -> None:
        self._known.pop(device_id, None)
