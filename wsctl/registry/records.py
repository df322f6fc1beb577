"""What the registry hands out: immutable records, never a live row and never a secret."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput

STATUSES = ("approved", "pending", "blocked")
SECONDS_PER_DAY = 86400.0


def iso(wall: float | None) -> str | None:
    """A wall-clock time as ISO 8601 UTC (``2026-12-02T03:18:21Z``), None stays None."""
    return None if wall is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be JSON data: {exc}") from None


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class DeviceRecord:
    id: str
    profile: str
    security_profile: int
    groups: tuple[str, ...]
    status: str
    online: bool
    #: when it last went online or offline
    since: float | None
    last_seen: float | None
    remote: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    cert_fingerprint: str | None
    cert_serial: str | None
    cert_not_after: float | None
    #: queued commands not yet delivered, failed or expired
    queued: int
    has_secret: bool
    offline_reason: str | None
    created: float
    #: when its last BootNotification (or other boot report) came
    last_boot: float | None = None
    #: the security profile of its current (or last) connection
    connected_security_profile: int | None = None

    def cert_days_left(self, now: float) -> int | None:
        if self.cert_not_after is None:
            return None
        return int((self.cert_not_after - now) // SECONDS_PER_DAY)

    def as_dict(self, *, now: float | None = None) -> dict[str, Any]:
        """Stable JSON keys; times as ISO 8601 UTC; ``now`` (default: the clock) for cert_days_left."""
        return {
            "id": self.id,
            "status": self.status,
            "online": self.online,
            "since": iso(self.since),
            "profile": self.profile,
            "security_profile": self.security_profile,
            "connected_security_profile": self.connected_security_profile,
            "groups": list(self.groups),
            "vendor": self.vendor,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "last_boot": iso(self.last_boot),
            "cert_fingerprint": self.cert_fingerprint,
            "cert_serial": self.cert_serial,
            "cert_not_after": iso(self.cert_not_after),
            "cert_days_left": self.cert_days_left(time.time() if now is None else now),
            "queued": self.queued,
            "last_seen": iso(self.last_seen),
            "remote": self.remote,
            "offline_reason": self.offline_reason,
            "has_secret": self.has_secret,
            "created": iso(self.created),
        }

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DeviceRecord:
        return cls(
            id=row["id"],
            profile=row["profile"],
            security_profile=row["security_profile"],
            groups=tuple(sorted(row["groups"].split(","))) if row["groups"] else (),
            status=row["status"],
            online=bool(row["online"]),
            since=_float(row["since"]),
            last_seen=_float(row["last_seen"]),
            remote=row["remote"],
            vendor=row["vendor"],
            model=row["model"],
            firmware=row["firmware"],
            serial=row["serial"],
            cert_fingerprint=row["cert_fingerprint"],
            cert_serial=row["cert_serial"],
            cert_not_after=_float(row["cert_not_after"]),
            queued=row["queued"],
            has_secret=bool(row["has_secret"]),
            offline_reason=row["offline_reason"],
            created=float(row["created"]),
            last_boot=_float(row["last_boot"]),
            connected_security_profile=row["connected_security_profile"],
        )


@dataclass(frozen=True)
class QueuedCommand:
    """A command an operator queued for an offline device (`send --queue TTL`)."""

    id: int
    device: str
    operator: str
    role: str | None
    command: str
    params: dict[str, Any]
    created: float
    expires_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> QueuedCommand:
        return cls(
            id=row["id"],
            device=row["device"],
            operator=row["operator"],
            role=row["role"],
            command=row["command"],
            params=from_json(row["params"]),
            created=float(row["created"]),
            expires_at=float(row["expires_at"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device": self.device,
            "operator": self.operator,
            "role": self.role,
            "command": self.command,
            "params": self.params,
            "created": iso(self.created),
            "expires_at": iso(self.expires_at),
        }
