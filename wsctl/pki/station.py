"""Signing a charging station's CSR that arrived over the wire (OCPP
SignCertificate), by the same rules as `wsctl certs sign`: only the CSR's
public key is taken — after its signature and key type are checked — and the
subject's common name must be the station's id.  A station the store already
has a valid certificate for is *renewed* (same names, the new key; the old
certificate is superseded, and revoked by the hub once the station is seen
with the new one); a new one gets a device certificate without DNS or IP
names: a station that only dials out is never dialed, so no name of it is
ever verified.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from wsctl.core.errors import InvalidInput
from wsctl.pki import builder, keys, names
from wsctl.pki.csr import load_csr
from wsctl.pki.index import Entry, format_serial

#: OCPP's limit for the CSR in SignCertificate (1.6 security extension, 2.0.1)
CSR_LIMIT = 5500


def check_station_csr(csr_pem: str, station_id: str) -> x509.CertificateSigningRequest:
    """The CSR, or InvalidInput saying in one line why it is refused."""
    if len(csr_pem) > CSR_LIMIT:
        raise InvalidInput(f"the CSR has {len(csr_pem)} characters; OCPP allows {CSR_LIMIT}")
    csr = load_csr(csr_pem.encode("utf-8"), source="SignCertificate csr")
    if not csr.is_signature_valid:
        raise InvalidInput("the CSR's signature does not verify: it was not made with the key it carries")
    keys.check_public_key(csr.public_key())
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    if cns != [station_id]:
        shown = ", ".join(cns) or "no common name"
        raise InvalidInput(f"the CSR's subject names {shown}, not the station {station_id}")
    return csr


def sign_station_csr(store: object, csr_pem: str, *, station_id: str, password: bytes, days: int = 365) -> Entry:
    """Certify the CSR's key for ``station_id``; returns the new store entry."""
    csr = check_station_csr(csr_pem, station_id)
    names.check_name(station_id)
    current = store.load_index().current(station_id)  # type: ignore[attr-defined]
    if current is not None and current.status == "valid":
        if current.kind != "device":
            raise InvalidInput(f"{station_id} is an {current.kind} in the store, not a device")
        spec = builder.LeafSpec(
            kind="device",
            name=station_id,
            dns=tuple(current.dns),
            ips=tuple(names.check_ip(i) for i in current.ips),
            days=names.check_days(days),
        )
        return store._issue(  # type: ignore[attr-defined]
            spec, password=password, key_password=None, public_key=csr.public_key(), renewing=current
        )
    spec = builder.LeafSpec(kind="device", name=station_id, days=names.check_days(days))
    return store._issue(  # type: ignore[attr-defined]
        spec, password=password, key_password=None, public_key=csr.public_key(), action="sign"
    )


def revoke_replaced(store: object, station_ids: Sequence[str], *, password: bytes) -> dict[str, list[int]]:
    """Revoke every certificate of these stations that a renewal replaced (superseded in
    the index): each was seen with its current one, so no older one is needed again.

    One store operation and one CRL for all of them (the hub batches the stations
    that came back while the previous CRL was being written).  Returns the serials
    revoked per station; an already revoked certificate is not revoked twice.
    """
    wanted = set(station_ids)
    revoked: dict[str, list[int]] = {}
    with store._operation("revoke", "renewed stations") as outcome:  # type: ignore[attr-defined]
        index = store.load_index()  # type: ignore[attr-defined]
        for entry in index.entries:
            if entry.name in wanted and entry.kind == "device" and entry.status == "superseded":
                revoked.setdefault(entry.name, []).append(entry.serial)
        if not revoked:
            return revoked
        issuing, issuing_key = store._issuing(password)  # type: ignore[attr-defined]
        when = builder.now()
        for serial in (s for serials in revoked.values() for s in serials):
            entry = index.by_serial(serial)
            entry.status, entry.revoked_at, entry.reason = "revoked", when, "superseded"
        store._write_crl(index, issuing, issuing_key, days=index.crl_days)  # type: ignore[attr-defined]
        outcome["extra"] = {
            "reason": "superseded",
            "serials": [format_serial(s) for serials in revoked.values() for s in serials],
            "crl_number": index.crl_number,
        }
    return revoked
