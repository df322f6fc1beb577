"""Charging transactions: the hub, as the central system, hands out their ids.

SQLite's AUTOINCREMENT never gives an id twice, across restarts and after
deletions, and ids only grow: what OCPP 1.6's StartTransaction.conf needs.
"""

from __future__ import annotations

from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.registry.db import Store

#: OCPP 1.6 transactionId is a JSON integer the stations keep in 32 bits
MAX_TRANSACTION_ID = 2**31 - 1


class Transactions(Store):
    def start_transaction(
        self, device_id: str, *, at: float, id_tag: str, connector_id: int | None, meter_start: int | None
    ) -> int:
        """A new transaction id: unique and larger than every one before it."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO transactions (device, id_tag, connector_id, meter_start, started) VALUES (?, ?, ?, ?, ?)",
                (device_id, id_tag, connector_id, meter_start, at),
            )
            transaction_id = int(cursor.lastrowid or 0)
            if transaction_id > MAX_TRANSACTION_ID:
                raise InvalidInput(f"transaction ids are used up: {transaction_id} does not fit OCPP's 32 bits")
        return transaction_id

    def stop_transaction(
        self, transaction_id: int, *, at: float, meter_stop: int | None, reason: str | None = None
    ) -> bool:
        """Record the end of a transaction; False if the id is unknown.

        A station that sends the same stop again (its first reply was lost) gets
        True and the first stop is kept.
        """
        with self._db.write() as conn:
            conn.execute(
                "UPDATE transactions SET stopped = ?, meter_stop = ?, reason = ? WHERE id = ? AND stopped IS NULL",
                (at, meter_stop, reason, transaction_id),
            )
            known = conn.execute("SELECT 1 FROM transactions WHERE id = ?", (transaction_id,)).fetchone()
        return known is not None

    def open_transactions(self, device_id: str) -> list[dict[str, Any]]:
        """The device's transactions not stopped yet, oldest first (times as wall-clock seconds)."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, device, id_tag, connector_id, meter_start, started FROM transactions"
                " WHERE device = ? AND stopped IS NULL ORDER BY id",
                (device_id,),
            ).fetchall()
        return [
            {
                "transaction_id": row["id"],
                "device": row["device"],
                "id_tag": row["id_tag"],
                "connector_id": row["connector_id"],
                "meter_start": row["meter_start"],
                "started": row["started"],
            }
            for row in rows
        ]
