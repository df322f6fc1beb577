"""The audit log: who did what to which device, with what outcome.  Append-only (triggers in
the schema refuse UPDATE and DELETE on it)."""

from __future__ import annotations

from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.registry.db import Store
from wsctl.registry.records import from_json, to_json

MAX_AUDIT_LIMIT = 1_000_000
#: an entry's parameters are kept up to this many characters of JSON; beyond,
#: the entry keeps their beginning and their size (a device's or an operator's
#: big payload must not grow the registry by its size per message)
MAX_AUDIT_PARAMS = 4096


class AuditLog(Store):
    def audit(
        self,
        *,
        at: float,
        actor: str,
        role: str | None,
        device: str | None,
        action: str,
        params: dict[str, Any] | None = None,
        outcome: str,
        detail: str | None = None,
    ) -> int:
        """Append one entry; returns its id (entries are numbered in the order they were written)."""
        encoded = None if params is None else to_json(params, "audit parameters")
        if encoded is not None and len(encoded) > MAX_AUDIT_PARAMS:
            head = encoded[: MAX_AUDIT_PARAMS - 100]
            encoded = to_json({"truncated": True, "size": len(encoded), "start": head}, "audit parameters")
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO audit (at, actor, role, device, action, params, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (at, actor, role, device, action, encoded, outcome, detail),
            )
            return int(cursor.lastrowid or 0)

    def audit_log(
        self, *, device: str | None = None, actor: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` entries (of ``device`` and/or ``actor`` if given), oldest first.

        Times are wall-clock seconds; ``params`` is the dict that was written.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise InvalidInput(f"audit limit must be 1 to {MAX_AUDIT_LIMIT}")
        clauses, args = [], []
        if device is not None:
            clauses.append("device = ?")
            args.append(device)
        if actor is not None:
            clauses.append("actor = ?")
            args.append(actor)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, at, actor, role, device, action, params, outcome, detail FROM audit"
                f"{where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [{**dict(row), "params": from_json(row["params"])} for row in reversed(rows)]
