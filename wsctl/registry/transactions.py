"""Charging transactions: the hub, as the central system, hands out their ids.

SQLite's AUTOINCREMENT never gives an id twice, across restarts and after
deletions, and ids only grow: what OCPP 1.6's StartTransaction.conf needs.  OCPP
2.0.1 stations name their transactions themselves (TransactionEvent's
``transactionId``, a string): that name is kept beside the hub's id, unique per
device, and `find_transaction` maps it back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.registry.db import Store

#: OCPP 1.6 transactionId is a JSON integer the stations keep in 32 bits
MAX_TRANSACTION_ID = 2**31 - 1
_COLUMNS = "id, device, station_transaction_id, id_tag, connector_id, meter_start, started"


class Transactions(Store):
    def start_transaction(
        self,
        device_id: str,
        *,
        at: float,
        id_tag: str | None,
        connector_id: int | None,
        meter_start: float | None,
        station_transaction_id: str | None = None,
        station_started: str | None = None,
    ) -> int:
        """A new transaction id: unique and larger than every one before it.

        ``station_started``: the charger's own start time (OCPP 1.6
        StartTransaction.timestamp).  A start the charger sends again because
        its answer was lost (the same message, or the same connector, id tag,
        meter reading and time while that transaction is open) gets the open
        transaction's id, not a second transaction."""
        try:
            with self._db.write() as conn:
                if station_started is not None:
                    row = conn.execute(
                        "SELECT id FROM transactions WHERE device = ? AND stopped IS NULL AND connector_id IS ?"
                        " AND id_tag IS ? AND meter_start IS ? AND station_started = ?",
                        (device_id, connector_id, id_tag, meter_start, station_started),
                    ).fetchone()
                    if row is not None:
                        return int(row[0])
                cursor = conn.execute(
                    "INSERT INTO transactions (device, station_transaction_id, id_tag, connector_id, meter_start,"
                    " started, station_started) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (device_id, station_transaction_id, id_tag, connector_id, meter_start, at, station_started),
                )
                transaction_id = int(cursor.lastrowid or 0)
                if transaction_id > MAX_TRANSACTION_ID:
                    raise InvalidInput(f"transaction ids are used up: {transaction_id} does not fit OCPP's 32 bits")
        except sqlite3.IntegrityError:
            raise InvalidInput(f"{device_id} already has a transaction named {station_transaction_id!r}") from None
        return transaction_id

    def find_transaction(self, device_id: str, station_transaction_id: str) -> int | None:
        """The hub's id of the transaction the station calls ``station_transaction_id``."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT id FROM transactions WHERE device = ? AND station_transaction_id = ?",
                (device_id, station_transaction_id),
            ).fetchone()
        return None if row is None else int(row[0])

    def stop_transaction(
        self, device_id: str, transaction_id: int, *, at: float, meter_stop: float | None, reason: str | None = None
    ) -> bool:
        """Record the end of one of ``device_id``'s transactions; False if it has no such id.

        Another device's transaction is unknown here: a station stops its own
        transactions only.  A station that sends the same stop again (its
        first reply was lost) gets True and the first stop is kept.
        """
        with self._db.write() as conn:
            conn.execute(
                "UPDATE transactions SET stopped = ?, meter_stop = ?, reason = ?"
                " WHERE id = ? AND device = ? AND stopped IS NULL",
                (at, meter_stop, reason, transaction_id, device_id),
            )
            known = conn.execute(
                "SELECT 1 FROM transactions WHERE id = ? AND device = ?", (transaction_id, device_id)
            ).fetchone()
        return known is not None

    def open_transactions(self, device_id: str) -> list[dict[str, Any]]:
        """The device's transactions not stopped yet, oldest first (times as wall-clock seconds)."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM transactions WHERE device = ? AND stopped IS NULL ORDER BY id", (device_id,)
            ).fetchall()
        return [
            {
                "transaction_id": row["id"],
                "device": row["device"],
                "station_transaction_id": row["station_transaction_id"],
                "id_tag": row["id_tag"],
                "connector_id": row["connector_id"],
                "meter_start": row["meter_start"],
                "started": row["started"],
            }
            for row in rows
        ]
