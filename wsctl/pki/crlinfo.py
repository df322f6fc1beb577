"""How fresh a CRL is: its nextUpdate, and whether peers are about to refuse it.

A CRL past its nextUpdate makes every peer that checks revocation refuse every
certificate of the plant, so `certs list`, `certs verify` and the servers warn a
day ahead (`WARN_WITHIN`).  `crl_next_update` reads the date from a file (PEM
or DER) without needing the store; `der_next_update` reads it from the DER
itself, without cryptography (whose import costs more than `certs list`'s
whole run).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from wsctl.core.errors import InvalidInput
from wsctl.pki.csr_der import read_element

WARN_WITHIN = dt.timedelta(days=1)


_PEM_BEGIN, _PEM_END = b"-----BEGIN X509 CRL-----", b"-----END X509 CRL-----"


def crl_next_update(path: str | Path) -> dt.datetime | None:
    """The nextUpdate (UTC) of the CRL in `path`, None if it has none; InvalidInput if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the CRL {path}: {exc.strerror or exc}") from None
    try:
        return der_next_update(crl_der(data))
    except ValueError:
        raise InvalidInput(f"{path} is not a readable CRL (PEM or DER)") from None


def crl_der(data: bytes) -> bytes:
    """The DER of a CRL given as PEM (the first X509 CRL block) or DER; ValueError if PEM without one."""
    return crl_ders(data)[0]


def crl_ders(data: bytes) -> list[bytes]:
    """The DER of every X509 CRL block of a PEM file (or the DER file itself):
    anything else in the file (a CERTIFICATE block above all) is left out.
    ValueError if there is no CRL block, or one is not base64."""
    if b"-----BEGIN" not in data:
        return [data]
    import base64
    import binascii

    found, pos = [], 0
    while (start := data.find(_PEM_BEGIN, pos)) >= 0:
        end = data.find(_PEM_END, start)
        if end < 0:
            raise ValueError("an X509 CRL block without its END line")
        try:
            found.append(base64.b64decode(b"".join(data[start + len(_PEM_BEGIN) : end].split()), validate=True))
        except binascii.Error:
            raise ValueError("the PEM block is not base64") from None
        pos = end + len(_PEM_END)
    if not found:
        raise ValueError("no X509 CRL block in the PEM")
    return found


def crl_pem(der: bytes) -> bytes:
    """A DER CRL as PEM (what OpenSSL's file loader takes)."""
    import base64

    text = base64.b64encode(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"\n".join([_PEM_BEGIN, *lines, _PEM_END, b""])


_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18


def der_next_update(der: bytes) -> dt.datetime | None:
    """The nextUpdate (UTC) of a DER CRL, None if it has none; ValueError if DER is not a CRL.

    Reads only the head of TBSCertList (RFC 5280 5.1: version?, signature,
    issuer, thisUpdate, nextUpdate?); the signature is not checked, as
    `Store.load_crl` does not check it either: this is for showing the date.
    """
    tag, start, end = read_element(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    tag, pos, tbs_end = read_element(der, start)
    if tag != 0x30:
        raise ValueError("no TBSCertList")
    tag, _, after = read_element(der, pos)
    if tag == 0x02:  # version
        pos = after
    for expected in (0x30, 0x30):  # signature algorithm, issuer
        tag, _, pos = read_element(der, pos)
        if tag != expected:
            raise ValueError("unexpected element before thisUpdate")
    tag, _, pos = read_element(der, pos)
    if tag not in (_UTC_TIME, _GENERALIZED_TIME):
        raise ValueError("no thisUpdate")
    if pos >= tbs_end:
        return None
    tag, value_start, value_end = read_element(der, pos)
    if tag not in (_UTC_TIME, _GENERALIZED_TIME):
        return None  # revokedCertificates or extensions: the CRL has no nextUpdate
    return _der_time(tag, der[value_start:value_end].decode("ascii"))


def _der_time(tag: int, text: str) -> dt.datetime:
    """UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ, as DER writes them."""
    if tag == _UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)


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
