"""The store's index.json: one record per certificate ever issued.

Serials are written as lower-case hex strings, not JSON numbers: they are 159
bits, and jq or JavaScript would silently round a number that large.

Every operation reads and rewrites the whole index, so both are kept cheap for
stores of thousands of certificates: one entry per line (json's C encoder;
``indent=`` would fall back to its pure-Python one), leaf paths made only when
used.  The layout is whitespace only: format ``wsctl-pki-index/1`` either way,
so stores written before (indented) and after read the same.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsctl.core.errors import StoreError
from wsctl.pki.names import KINDS, is_name

INDEX_FORMAT = "wsctl-pki-index/1"
STATUSES = ("valid", "revoked", "superseded")


@dataclass(frozen=True)
class LeafPaths:
    """The files of a leaf in DIRECTORY; made on access (parsing the index makes one per entry)."""

    directory: str

    @property
    def cert(self) -> Path:
        return Path(self.directory, "cert.pem")

    @property
    def chain(self) -> Path:
        return Path(self.directory, "chain.pem")

    @property
    def key(self) -> Path:
        return Path(self.directory, "key.pem")


def format_serial(serial: int) -> str:
    return format(serial, "x")


def parse_serial(text: str) -> int | None:
    """A serial as `list`/`show` print it (hex), also with colons or 0x; None if it is not one."""
    cleaned = text.strip().lower().replace(":", "")
    if cleaned.startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned or len(cleaned) > 42 or any(c not in "0123456789abcdef" for c in cleaned):
        return None
    return int(cleaned, 16)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    found = dt.datetime.fromisoformat(text)  # 3.11 reads the trailing Z itself
    if found.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return found


def _text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{what} must be a list of strings")
    return list(value)


@dataclass
class Entry:
    serial: int
    name: str
    kind: str
    role: str | None
    not_after: dt.datetime
    status: str
    paths: LeafPaths
    not_before: dt.datetime | None = None
    dns: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    fingerprint: str = ""
    key_type: str = ""
    #: False when the certificate was signed from a CSR: the key stays on the device
    has_key: bool = True
    key_encrypted: bool = True
    issued_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    superseded_by: int | None = None

    def effective_status(self, at: dt.datetime | None = None) -> str:
        """The stored status, or "expired" for a valid certificate past its not_after."""
        at = at or dt.datetime.now(dt.UTC)
        if self.status == "valid" and self.not_after <= at:
            return "expired"
        return self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": format_serial(self.serial),
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "status": self.status,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "dns": list(self.dns),
            "ips": list(self.ips),
            "fingerprint": self.fingerprint,
            "key_type": self.key_type,
            "has_key": self.has_key,
            "key_encrypted": self.key_encrypted,
            "issued_at": _iso(self.issued_at),
            "revoked_at": _iso(self.revoked_at),
            "reason": self.reason,
            "superseded_by": None if self.superseded_by is None else format_serial(self.superseded_by),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], paths: LeafPaths) -> Entry:
        superseded_by = obj.get("superseded_by")
        not_after = _time(obj["not_after"])
        if not_after is None:
            raise ValueError("an entry needs its not_after time")
        return cls(
            serial=int(obj["serial"], 16),
            name=str(obj["name"]),
            kind=str(obj["kind"]),
            role=_text(obj.get("role"), "role"),
            not_after=not_after,
            status=str(obj["status"]),
            paths=paths,
            not_before=_time(obj.get("not_before")),
            dns=_strings(obj.get("dns"), "dns"),
            ips=_strings(obj.get("ips"), "ips"),
            fingerprint=str(obj.get("fingerprint") or ""),
            key_type=str(obj.get("key_type") or ""),
            has_key=bool(obj.get("has_key", True)),
            key_encrypted=bool(obj.get("key_encrypted", True)),
            issued_at=_time(obj.get("issued_at")),
            revoked_at=_time(obj.get("revoked_at")),
            reason=_text(obj.get("reason"), "reason"),
            superseded_by=None if superseded_by is None else int(superseded_by, 16),
        )


@dataclass
class Index:
    ca_name: str
    key_type: str
    crl_number: int = 0
    crl_days: int = 30
    entries: list[Entry] = field(default_factory=list)

    def current(self, name: str) -> Entry | None:
        """The live record for `name`: the newest one that was not superseded by a renewal."""
        live = [e for e in self.entries if e.name == name and e.status != "superseded"]
        return live[-1] if live else None

    def by_serial(self, serial: int) -> Entry | None:
        return next((e for e in self.entries if e.serial == serial), None)

    def to_bytes(self) -> bytes:
        """The JSON document, one entry per line."""
        head = ", ".join(
            f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
            for key, value in (
                ("format", INDEX_FORMAT),
                ("ca", {"name": self.ca_name, "key_type": self.key_type}),
                ("crl", {"number": self.crl_number, "days": self.crl_days}),
            )
        )
        entries = ",\n".join(json.dumps(e.to_json(), ensure_ascii=False) for e in self.entries)
        return f'{{{head}, "entries": [\n{entries}\n]}}\n'.encode()


def parse_index(data: bytes, source: Path, leaf_paths) -> Index:
    """Parse index.json; anything unexpected is a StoreError, never a traceback."""
    try:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict) or obj.get("format") != INDEX_FORMAT:
            raise ValueError(f"not a {INDEX_FORMAT} document")
        entries = []
        serials: set[int] = set()
        for raw in obj["entries"]:
            kind, name = raw["kind"], raw["name"]
            if kind not in KINDS or not is_name(name):
                # a name becomes a path under the store: never ../ or a separator
                raise ValueError(f"entry {str(name)[:40]!r} of kind {str(kind)[:20]!r} is not a store name")
            entry = Entry.from_json(raw, leaf_paths(kind, name))
            if entry.status not in STATUSES:
                raise ValueError(f"entry {name!r} has status {entry.status!r}")
            if entry.serial in serials:
                # revoking by the index's serial would revoke the other certificate
                raise ValueError(f"serial {format_serial(entry.serial)} appears twice")
            serials.add(entry.serial)
            entries.append(entry)
        return Index(
            ca_name=str(obj["ca"]["name"]),
            key_type=str(obj["ca"]["key_type"]),
            crl_number=int(obj["crl"]["number"]),
            crl_days=int(obj["crl"]["days"]),
            entries=entries,
        )
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise StoreError(
            f"{source} is corrupted ({type(exc).__name__}: {str(exc)[:120]}); nothing was changed",
            hint="restore index.json from a backup; the certificates under devices/ and operators/ are intact",
        ) from None
