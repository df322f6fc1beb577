"""How fresh a CRL is: its nextUpdate, and whether peers are about to refuse it.

A CRL past its nextUpdate makes every peer that checks revocation refuse every
certificate of the plant, so `certs list`, `certs verify` and the servers warn a
day ahead (`WARN_WITHIN`).  `crl_next_update` reads the date from a file (PEM
or DER) without needing the store.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from wsctl.core.errors import InvalidInput

WARN_WITHIN = dt.timedelta(days=1)


def crl_next_update(path: str | Path) -> dt.datetime | None:
    """The nextUpdate (UTC) of the CRL in `path`, None if it has none; InvalidInput if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the CRL {path}: {exc.strerror or exc}") from None
    try:
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except ValueError:
        raise InvalidInput(f"{path} is not a readable CRL (PEM or DER)") from None
    return crl.next_update_utc


def crl_status(next_update: dt.datetime | None, at: dt.datetime) -> str:
    """ "ok", "expiring" (within WARN_WITHIN), "expired", or "no-next-update"."""
    if next_update is None:
        return "no-next-update"
    if next_update <= at:
        return "expired"
    return "expiring" if next_update - at <= WARN_WITHIN else "ok"


def _span(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{max(0, int(delta.total_seconds() // 60))} minutes"


def crl_expiry_text(next_update: dt.datetime | None, at: dt.datetime) -> str:
    """ "next update 2026-03-01 10:00Z (in 29 days)", or how long ago it expired."""
    if next_update is None:
        return "no next update date"
    when = next_update.strftime("%Y-%m-%d %H:%MZ")
    if next_update <= at:
        return f"expired {when} ({_span(at - next_update)} ago)"
    return f"next update {when} (in {_span(next_update - at)})"
