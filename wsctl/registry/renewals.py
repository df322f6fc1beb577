"""Certificate renewals through the hub (OCPP SignCertificate / CertificateSigned), one
row each, from the trigger to the old certificate's revocation.

The row is what a restarted hub resumes from: a renewal whose chain was sent
still has its old certificate revoked when the station comes back with the new
one, whenever that is.  States, in order::

    requested -> csr-received -> signed -> accepted -> seen -> renewed
                              (any of them) -> rejected | failed

``requested``: the station accepted an operator's trigger; ``csr-received``:
the hub accepted its CSR; ``signed``: the chain is signed and being sent;
``accepted``: the station accepted it (a station that switches without
answering skips this); ``seen``: the station connected with the new
certificate, the old one is being revoked; ``renewed``: the old one is revoked
and the CRL re-issued.  ``rejected``: the station refused the chain in its
answer; ``failed``: anything else that ended it (the CSR refused, signing
failed, a SecurityEventNotification, a newer renewal, a hub restart before
signing), with the reason in ``detail``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.registry.db import Store
from wsctl.registry.records import iso

STATES = ("requested", "csr-received", "signed", "accepted", "seen", "renewed", "rejected", "failed")
#: states of a renewal still under way (the schema's partial index lists the same)
OPEN_STATES = ("requested", "csr-received", "signed", "accepted", "seen")
_OPEN_SQL = "(" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ")"
_COLUMNS = (
    "id, device, state, requested_by, started, updated, old_serial, old_fingerprint,"
    " new_serial, new_fingerprint, old_revoked, detail"
)
#: what `advance_renewal` may set besides the state
_FIELDS = ("old_serial", "old_fingerprint", "new_serial", "new_fingerprint", "old_revoked")
MAX_RENEWALS_LIMIT = 1_000_000


def _serial_text(serial: int | str | None) -> str | None:
    return serial if serial is None or isinstance(serial, str) else format(serial, "x")


@dataclass(frozen=True)
class RenewalRecord:
    id: int
    device: str
    state: str
    requested_by: str | None
    started: float
    updated: float
    old_serial: str | None
    old_fingerprint: str | None
    new_serial: str | None
    new_fingerprint: str | None
    old_revoked: float | None
    detail: str | None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RenewalRecord:
        return cls(**dict(row))

    def as_dict(self) -> dict[str, Any]:
        """Stable JSON keys; times as ISO 8601 UTC."""
        return {
            "id": self.id,
            "device": self.device,
            "state": self.state,
            "requested_by": self.requested_by,
            "started": iso(self.started),
            "updated": iso(self.updated),
            "old_serial": self.old_serial,
            "old_fingerprint": self.old_fingerprint,
            "new_serial": self.new_serial,
            "new_fingerprint": self.new_fingerprint,
            "old_revoked": iso(self.old_revoked),
            "detail": self.detail,
        }


def _check_state(state: str) -> None:
    if state not in STATES:
        raise InvalidInput(f"renewal state must be one of {', '.join(STATES)}, not {state!r}")


class Renewals(Store):
    def start_renewal(
        self,
        device_id: str,
        *,
        at: float,
        state: str,
        requested_by: str | None = None,
        old_serial: int | str | None = None,
        old_fingerprint: str | None = None,
        detail: str | None = None,
    ) -> int:
        """A new renewal of ``device_id``; an open one it replaces is failed ("replaced by
        renewal N").  Returns its id."""
        _check_state(state)
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO renewals (device, state, requested_by, started, updated, old_serial, old_fingerprint,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device_id, state, requested_by, at, at, _serial_text(old_serial), old_fingerprint, detail),
            )
            renewal_id = int(cursor.lastrowid or 0)
            conn.execute(
                f"UPDATE renewals SET state = 'failed', updated = ?, detail = ? WHERE device = ? AND id != ?"
                f" AND state IN {_OPEN_SQL}",
                (at, f"replaced by renewal {renewal_id}", device_id, renewal_id),
            )
        return renewal_id

    def advance_renewal(
        self,
        renewal_id: int,
        *,
        at: float,
        state: str,
        only_from: Sequence[str] = OPEN_STATES,
        detail: str | None = None,
        **fields: Any,
    ) -> bool:
        """Move a renewal that is in one of ``only_from`` (default: any open state) to
        ``state``, setting any of old_serial, old_fingerprint, new_serial, new_fingerprint,
        old_revoked; False if it is unknown or not in those states (a late answer
        never moves a renewal back)."""
        _check_state(state)
        if not only_from or not set(only_from) <= set(OPEN_STATES):
            raise InvalidInput(f"a renewal moves on only from its open states ({', '.join(OPEN_STATES)})")
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise InvalidInput(f"not a renewal field: {', '.join(sorted(unknown))}")
        values = {key: _serial_text(value) if key.endswith("_serial") else value for key, value in fields.items()}
        sets = "".join(f", {key} = ?" for key in values)
        marks = ", ".join("?" for _ in only_from)
        with self._db.write() as conn:
            return (
                conn.execute(
                    f"UPDATE renewals SET state = ?, updated = ?, detail = coalesce(?, detail){sets}"
                    f" WHERE id = ? AND state IN ({marks})",
                    (state, at, detail, *values.values(), renewal_id, *only_from),
                ).rowcount
                > 0
            )

    def renewal_requested_by(self, renewal_id: int, operator: str) -> bool:
        """Name the operator whose trigger started a renewal that began with the station's
        CSR (the CSR overtook the trigger's answer); False if it already has one."""
        with self._db.write() as conn:
            return (
                conn.execute(
                    "UPDATE renewals SET requested_by = ? WHERE id = ? AND requested_by IS NULL",
                    (operator, renewal_id),
                ).rowcount
                > 0
            )

    def open_renewal(self, device_id: str) -> RenewalRecord | None:
        """The device's renewal under way, if any (at most one: a new one replaces it)."""
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM renewals WHERE device = ? AND state IN {_OPEN_SQL} ORDER BY id DESC LIMIT 1",
                (device_id,),
            ).fetchone()
        return None if row is None else RenewalRecord.from_row(row)

    def renewals(self, *, device: str | None = None, open_only: bool = False, limit: int = 1000) -> list[RenewalRecord]:
        """The newest ``limit`` renewals (of ``device``; only those under way), oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RENEWALS_LIMIT:
            raise InvalidInput(f"renewals limit must be 1 to {MAX_RENEWALS_LIMIT}")
        clauses, args = [], []
        if device is not None:
            clauses.append("device = ?")
            args.append(device)
        if open_only:
            clauses.append(f"state IN {_OPEN_SQL}")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM renewals{where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [RenewalRecord.from_row(row) for row in reversed(rows)]
