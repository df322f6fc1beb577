"""The devices the hub knows: who they are, how they are admitted, and their secrets."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.ids import check_device_id, check_group_name
from wsctl.registry.db import Store
from wsctl.registry.records import STATUSES, DeviceRecord
from wsctl.registry.secret_hash import check_secret_text, generate_secret, hash_secret, verify_secret
from wsctl.registry.standing import Standing, StandingCache

#: every column but the secret's hash, which never leaves this module
DEVICE_SELECT = """
SELECT d.id, d.profile, d.security_profile, d.status, d.created, d.online, d.since, d.last_seen,
       d.remote, d.offline_reason, d.last_boot, d.vendor, d.model, d.firmware, d.serial,
       d.cert_fingerprint, d.cert_serial, d.cert_not_after, d.connected_security_profile,
       d.secret_hash IS NOT NULL AS has_secret,
       (SELECT group_concat(g.name, ',') FROM device_groups g WHERE g.device = d.id) AS groups,
       (SELECT count(*) FROM queue q WHERE q.device = d.id AND q.done IS NULL) AS queued
FROM devices d
"""
MAX_PROFILE_NAME = 128
#: profiles whose devices log in with a secret (HTTP Basic); 3 uses its certificate
SECRET_PROFILES = (1, 2)


def check_security_profile(value: int) -> int:
    if isinstance(value, bool) or value not in (1, 2, 3):
        raise InvalidInput(f"security profile must be 1, 2 or 3, not {value!r}")
    return value


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"device status must be one of {', '.join(STATUSES)}, not {status!r}")
    return status


def check_profile_name(profile: str) -> str:
    if not isinstance(profile, str) or not profile or len(profile) > MAX_PROFILE_NAME or not profile.isprintable():
        raise InvalidInput(f"profile name must be 1 to {MAX_PROFILE_NAME} printable characters")
    return profile


class DeviceStore(Store):
    _standings: StandingCache

    def _no_device(self, device_id: str) -> InvalidInput:
        return InvalidInput(f"no device {device_id!r} in the registry {self._db.path}")

    def _require(self, conn: sqlite3.Connection, device_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT id, security_profile FROM devices WHERE id = ?", (device_id,)).fetchone()
        if row is None:
            raise self._no_device(device_id)
        return row

    def add_device(
        self,
        device_id: str,
        *,
        profile: str,
        security_profile: int = 3,
        groups: Iterable[str] = (),
        status: str = "approved",
        secret: str | None = None,
        at: float | None = None,
    ) -> str | None:
        """Add a device; for security profile 1 or 2 return its secret, generated unless given.

        The secret is returned here once and stored only as a hash.  A given
        ``secret`` is not returned (the caller has it): None then.
        """
        check_device_id(device_id)
        check_profile_name(profile)
        check_security_profile(security_profile)
        check_status(status)
        names = sorted({check_group_name(name) for name in groups})
        generated: str | None = None
        stored: str | None = None
        if security_profile in SECRET_PROFILES:
            if secret is None:
                secret = generated = generate_secret()
            stored = hash_secret(secret)
        elif secret is not None:
            raise InvalidInput("security profile 3 admits a device by its certificate; it has no secret")
        try:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO devices (id, profile, security_profile, status, secret_hash, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (device_id, profile, security_profile, status, stored, time.time() if at is None else at),
                )
                conn.executemany(
                    "INSERT INTO device_groups (device, name) VALUES (?, ?)", [(device_id, n) for n in names]
                )
                self._standings.forget(device_id)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"device {device_id!r} is already in the registry {self._db.path}") from None
        return generated

    def add_pending(
        self,
        device_id: str,
        *,
        profile: str,
        security_profile: int,
        remote: str,
        fingerprint: str | None,
        at: float,
        secret_hash: str | None = None,
    ) -> DeviceRecord:
        """An unknown device that dialed in while the hub admits by approval: kept as pending.

        ``secret_hash``: of the password a security profile 1 or 2 device
        presented (`hash_secret`), so that approving it approves that password,
        and only that password gets in again.  A device already pending keeps
        its first secret and has its latest address and fingerprint kept; a
        known device is returned as it is (approval or blocking is an operator's).
        """
        check_device_id(device_id)
        check_profile_name(profile)
        check_security_profile(security_profile)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO devices (id, profile, security_profile, status, created, remote, cert_fingerprint,"
                " last_seen, secret_hash) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET remote = excluded.remote,"
                " cert_fingerprint = excluded.cert_fingerprint, last_seen = excluded.last_seen"
                " WHERE devices.status = 'pending'",
                (device_id, profile, security_profile, at, remote, fingerprint, at, secret_hash),
            )
            self._standings.forget(device_id)
        record = self.device(device_id)
        assert record is not None
        return record

    def standing(self, device_id: str) -> Standing | None:
        """Profile, security profile and status, from memory while nobody changed them
        (`wsctl.registry.standing`); None for an unknown device."""
        with self._db.read() as conn:
            return self._standings.lookup(conn, device_id)

    def device(self, device_id: str) -> DeviceRecord | None:
        with self._db.read() as conn:
            row = conn.execute(DEVICE_SELECT + " WHERE d.id = ?", (device_id,)).fetchone()
        return None if row is None else DeviceRecord.from_row(row)

    def devices(self, *, group: str | None = None, status: str | None = None) -> list[DeviceRecord]:
        """The devices in id order, only those of ``group`` and/or with ``status`` if given."""
        clauses, args = [], []
        if group is not None:
            clauses.append("EXISTS (SELECT 1 FROM device_groups g WHERE g.device = d.id AND g.name = ?)")
            args.append(group)
        if status is not None:
            clauses.append("d.status = ?")
            args.append(check_status(status))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._db.read() as conn:
            rows = conn.execute(DEVICE_SELECT + where + " ORDER BY d.id", args).fetchall()
        return [DeviceRecord.from_row(row) for row in rows]

    def blocked_ids(self) -> set[str]:
        """The blocked devices (a partial index: as many rows read as are blocked)."""
        with self._db.read() as conn:
            return {row[0] for row in conn.execute("SELECT id FROM devices WHERE status = 'blocked'")}

    def profile_names(self) -> set[str]:
        """The profiles registered devices use (what the hub derives its device
        paths from: one indexed scan, not every record)."""
        with self._db.read() as conn:
            return {row[0] for row in conn.execute("SELECT DISTINCT profile FROM devices")}

    def device_ids(self) -> list[str]:
        with self._db.read() as conn:
            return [row[0] for row in conn.execute("SELECT id FROM devices ORDER BY id")]

    def set_status(self, device_id: str, status: str) -> None:
        check_status(status)
        with self._db.write() as conn:
            if conn.execute("UPDATE devices SET status = ? WHERE id = ?", (status, device_id)).rowcount == 0:
                raise self._no_device(device_id)
            self._standings.forget(device_id)

    def remove(self, device_id: str) -> None:
        """Forget the device, its groups and its queued commands (its audit entries stay)."""
        with self._db.write() as conn:
            if conn.execute("DELETE FROM devices WHERE id = ?", (device_id,)).rowcount == 0:
                raise self._no_device(device_id)
            self._standings.forget(device_id)

    def set_secret(self, device_id: str, secret: str | None = None) -> str:
        """Replace the device's secret with ``secret`` (or a generated one); returns it.

        Only for security profiles 1 and 2: a profile-3 device has no secret to rotate.
        """
        new = generate_secret() if secret is None else check_secret_text(secret)
        stored = hash_secret(new)  # hashed before the lock: scrypt takes tens of milliseconds
        with self._db.write() as conn:
            row = self._require(conn, device_id)
            if row["security_profile"] not in SECRET_PROFILES:
                raise InvalidInput(
                    f"device {device_id!r} uses security profile {row['security_profile']} (its certificate);"
                    " only profiles 1 and 2 have a secret"
                )
            conn.execute("UPDATE devices SET secret_hash = ? WHERE id = ?", (stored, device_id))
        return new

    def check_secret(self, device_id: str, password: str | bytes) -> bool:
        """Whether ``password`` is the device's secret; False for an unknown device or one without a secret.

        As slow for an unknown id as for a known one, so a guesser learns nothing.
        """
        with self._db.read() as conn:
            row = conn.execute("SELECT secret_hash FROM devices WHERE id = ?", (device_id,)).fetchone()
        return verify_secret(password, None if row is None else row["secret_hash"])
