"""Commands queued for offline devices (`send --queue TTL`): delivered when the device is back,
or expired when their time is up.  Each ends with an outcome and is kept, not deleted."""

from __future__ import annotations

from typing import Any

from wsctl.core.errors import InvalidInput, RegistryError
from wsctl.registry.db import Store
from wsctl.registry.records import QueuedCommand, to_json

OUTCOMES = ("delivered", "failed", "expired")


class QueueFull(RegistryError):
    """The device has as many commands waiting as it may (the hub answers the call busy)."""


_COLUMNS = "id, device, operator, role, command, params, created, expires_at"


class CommandQueue(Store):
    def queue(
        self,
        device_id: str,
        *,
        at: float,
        expires_at: float,
        operator: str,
        role: str | None,
        command: str,
        params: dict[str, Any],
        max_waiting: int | None = None,
    ) -> int:
        """Queue a command for a known device; returns its queue id.  QueueFull
        when ``max_waiting`` commands wait for it already (counted in the same
        transaction, so concurrent callers cannot pass it together)."""
        if expires_at <= at:
            raise InvalidInput("a queued command must expire after it is queued")
        encoded = to_json(params, "queued command parameters")
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone() is None:
                raise InvalidInput(f"no device {device_id!r} in the registry {self._db.path}")
            if max_waiting is not None:
                waiting = conn.execute(
                    "SELECT count(*) FROM queue WHERE device = ? AND done IS NULL", (device_id,)
                ).fetchone()[0]
                if waiting >= max_waiting:
                    raise QueueFull(
                        f"{device_id}: {waiting} queued commands wait for it already (at most {max_waiting})"
                    )
            cursor = conn.execute(
                "INSERT INTO queue (device, operator, role, command, params, created, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device_id, operator, role, command, encoded, at, expires_at),
            )
            return int(cursor.lastrowid or 0)

    def due(self, device_id: str, *, at: float) -> list[QueuedCommand]:
        """The device's commands still to deliver at ``at``, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM queue WHERE device = ? AND done IS NULL AND expires_at > ? ORDER BY id",
                (device_id, at),
            ).fetchall()
        return [QueuedCommand.from_row(row) for row in rows]

    def queued_total(self) -> int:
        """Queued commands not yet delivered, failed or expired, of all devices."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM queue WHERE done IS NULL").fetchone()[0])

    def has_due(self, device_id: str, *, at: float) -> bool:
        """Whether `due` would return anything (one indexed probe, no rows read)."""
        with self._db.read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM queue WHERE device = ? AND done IS NULL AND expires_at > ? LIMIT 1",
                    (device_id, at),
                ).fetchone()
                is not None
            )

    def finish(self, queue_id: int, *, at: float, outcome: str, result: Any = None) -> bool:
        """Close a queued command with its outcome; False if it was unknown or already closed."""
        if outcome not in OUTCOMES:
            raise InvalidInput(f"queue outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        encoded = None if result is None else to_json(result, "queued command result")
        with self._db.write() as conn:
            return (
                conn.execute(
                    "UPDATE queue SET done = ?, outcome = ?, result = ? WHERE id = ? AND done IS NULL",
                    (at, outcome, encoded, queue_id),
                ).rowcount
                > 0
            )

    def expire(self, *, at: float) -> list[QueuedCommand]:
        """Mark every command whose time is up at ``at`` as expired, and return them."""
        with self._db.write() as conn:
            rows = conn.execute(
                f"UPDATE queue SET done = ?, outcome = 'expired' WHERE done IS NULL AND expires_at <= ?"
                f" RETURNING {_COLUMNS}",
                (at, at),
            ).fetchall()
        return sorted((QueuedCommand.from_row(row) for row in rows), key=lambda command: command.id)
