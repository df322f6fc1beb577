"""Where each device is: online or offline since when, last seen, its certificate, its boot report.

Times are wall-clock seconds passed in by the caller (the hub), so a test
decides what "now" is.
"""

from __future__ import annotations

from collections.abc import Iterable

from wsctl.registry.devices import DeviceStore, check_security_profile

#: the longest text kept from what a device reports about itself (BootNotification fields)
MAX_REPORTED = 256


def _reported(value: str | None) -> str | None:
    """What a device says about itself, bounded: it is shown in tables and sent to operators."""
    return None if value is None else str(value)[:MAX_REPORTED]


def _serial_text(serial: int | str | None) -> str | None:
    # certificate serials are up to 159 bits: beyond SQLite's integers, so kept as hex text
    if serial is None or isinstance(serial, str):
        return serial
    return format(serial, "x")


class Presence(DeviceStore):
    def online(
        self,
        device_id: str,
        *,
        at: float,
        remote: str,
        fingerprint: str | None = None,
        cert_serial: int | str | None = None,
        cert_not_after: float | None = None,
        security_profile: int,
    ) -> int:
        """The device connected: returns its connection number, for `offline(connection=...)`.

        The certificate fields describe this connection: a device that now logs
        in without a certificate has none recorded.
        """
        check_security_profile(security_profile)
        with self._db.write() as conn:
            row = conn.execute(
                "UPDATE devices SET online = 1, since = ?, last_seen = ?, remote = ?, offline_reason = NULL,"
                " cert_fingerprint = ?, cert_serial = ?, cert_not_after = ?, connected_security_profile = ?,"
                " connection = connection + 1 WHERE id = ? RETURNING connection",
                (at, at, remote, fingerprint, _serial_text(cert_serial), cert_not_after, security_profile, device_id),
            ).fetchall()  # all: a RETURNING statement must finish before the commit
            if not row:
                raise self._no_device(device_id)
        return int(row[0][0])

    def offline(
        self,
        device_id: str,
        *,
        at: float,
        reason: str,
        connection: int | None = None,
        last_seen: float | None = None,
    ) -> bool:
        """The device's connection ended.  With ``connection`` (from `online`), only if that
        connection is still the current one: a replaced connection closing late leaves
        its successor online.  ``last_seen``: when it last sent something, if the
        caller kept that in memory (`seen_many`), written in the same transaction.
        False if nothing changed."""
        query = "UPDATE devices SET online = 0, since = ?, offline_reason = ?"
        args: tuple[object, ...] = (at, reason)
        if last_seen is not None:
            query += ", last_seen = max(coalesce(last_seen, ?), ?)"
            args += (last_seen, last_seen)
        query += " WHERE id = ? AND online = 1"
        args += (device_id,)
        if connection is not None:
            query += " AND connection = ?"
            args += (connection,)
        with self._db.write() as conn:
            return conn.execute(query, args).rowcount > 0

    def seen(self, device_id: str, *, at: float) -> None:
        """The device sent something.  One short write; the hub gathers them for `seen_many`."""
        self.seen_many([(device_id, at)])

    def seen_many(self, sightings: Iterable[tuple[str, float]]) -> None:
        """Many (device id, at) in one transaction: what the hub gathered since its last flush."""
        with self._db.write() as conn:
            conn.executemany(
                "UPDATE devices SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)",
                [(at, device_id, at) for device_id, at in sightings],
            )

    def all_offline(self, *, at: float, reason: str = "hub restarted") -> int:
        """At hub start nobody is connected, whatever the file says: returns how many were marked."""
        with self._db.write() as conn:
            return conn.execute(
                "UPDATE devices SET online = 0, since = ?, offline_reason = ? WHERE online = 1", (at, reason)
            ).rowcount

    def boot(
        self,
        device_id: str,
        *,
        at: float,
        vendor: str | None,
        model: str | None,
        firmware: str | None = None,
        serial: str | None = None,
    ) -> None:
        """What the device said about itself when it booted (OCPP BootNotification)."""
        with self._db.write() as conn:
            changed = conn.execute(
                "UPDATE devices SET last_boot = ?, last_seen = max(coalesce(last_seen, ?), ?), vendor = ?,"
                " model = ?, firmware = ?, serial = ? WHERE id = ?",
                (at, at, at, _reported(vendor), _reported(model), _reported(firmware), _reported(serial), device_id),
            ).rowcount
            if not changed:
                raise self._no_device(device_id)
