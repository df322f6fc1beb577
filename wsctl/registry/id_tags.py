"""The allow-list OCPP Authorize is answered from: id tags (RFID cards, tokens) and their status."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.registry.db import Store

ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired")
#: OCPP 2.0.1 IdToken is up to 36 characters (1.6's IdToken 20)
MAX_ID_TAG = 36


def check_id_tag(id_tag: str) -> str:
    if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= MAX_ID_TAG or not id_tag.isprintable():
        raise InvalidInput(f"id tag must be 1 to {MAX_ID_TAG} printable characters (OCPP IdToken)")
    if id_tag.strip() != id_tag:
        raise InvalidInput("id tag must not start or end with a space")
    return id_tag


def upsert_id_tag(conn: sqlite3.Connection, id_tag: str, status: str, expires: float | None) -> None:
    """Add the tag or replace its status and expiry (a verb's change, or another hub's record)."""
    conn.execute(
        "INSERT INTO id_tags (id_tag, status, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status, expires = excluded.expires",
        (id_tag, status, expires),
    )


class IdTags(Store):
    def add_id_tag(self, id_tag: str, *, status: str = "Accepted", expires: float | None = None) -> None:
        """Add the tag, or replace its status and expiry."""
        check_id_tag(id_tag)
        if status not in ID_TAG_STATUSES:
            raise InvalidInput(f"id tag status must be one of {', '.join(ID_TAG_STATUSES)}, not {status!r}")
        with self._db.write() as conn:
            upsert_id_tag(conn, id_tag, status, expires)

    def remove_id_tag(self, id_tag: str) -> None:
        with self._db.write() as conn:
            if conn.execute("DELETE FROM id_tags WHERE id_tag = ?", (id_tag,)).rowcount == 0:
                raise InvalidInput(f"no id tag {id_tag!r} in the registry {self._db.path}")

    def id_tag_status(self, id_tag: str, *, at: float | None = None) -> str:
        """Accepted, Blocked, Expired (past its expiry at ``at``, default now) or Invalid (unknown).

        Case-insensitive (OCPP's IdToken is: a reader may send an RFID UID's hex
        in either case).  Tags that differ only in case fail closed: one that is
        not Accepted wins, then the one expiring first."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT status, expires FROM id_tags WHERE id_tag = ? COLLATE NOCASE"
                " ORDER BY status = 'Accepted', expires IS NULL, expires LIMIT 1",
                (id_tag,),
            ).fetchone()
        if row is None:
            return "Invalid"
        now = time.time() if at is None else at
        if row["status"] == "Accepted" and row["expires"] is not None and row["expires"] <= now:
            return "Expired"
        return str(row["status"])

    def id_tags(self) -> list[dict[str, Any]]:
        """Every tag in order: id_tag, status, expires (wall-clock seconds or None)."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT id_tag, status, expires FROM id_tags ORDER BY id_tag").fetchall()
        return [{"id_tag": row["id_tag"], "status": row["status"], "expires": row["expires"]} for row in rows]
