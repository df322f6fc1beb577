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
from typing import Any

from cryptography import x509

from wsctl.core.errors import InvalidInput, WsctlError
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
    """Certify the CSR's key for ``station_id``; returns the new store entry (a batch of one)."""
    (result,) = sign_station_csrs(store, [(station_id, csr_pem)], password=password, days=days)
    if isinstance(result, WsctlError):
        raise result
    return result


def sign_station_csrs(
    store: object, requests: Sequence[tuple[str, str]], *, password: bytes, days: int = 365
) -> list[Entry | WsctlError]:
    """Sign many stations' CSRs (``(station_id, csr_pem)`` each) in one store operation.

    Each request stands alone: a bad CSR, a name the store holds as an operator,
    or a second CSR of the same station in the batch is refused with its own
    error (returned in its place) and audit line, and the rest are committed
    together.  The CSRs are checked before the store is locked, so the lock is
    held for the signing and the one commit only.
    """
    checked: list[tuple[str, x509.CertificateSigningRequest | WsctlError]] = []
    seen: set[str] = set()
    for station_id, csr_pem in requests:
        try:
            if station_id in seen:
                raise InvalidInput(f"a second CSR of {station_id} in one batch; the first is signed")
            seen.add(station_id)
            names.check_name(station_id)
            checked.append((station_id, check_station_csr(csr_pem, station_id)))
        except WsctlError as exc:
            checked.append((station_id, exc))
    lifetime = names.check_days(days)

    def plan(live: dict[str, Entry]) -> list[tuple[str, Any]]:
        return [(f"device:{sid}", _station_leaf(live.get(sid), sid, csr, lifetime)) for sid, csr in checked]

    return store._issue_each(plan, _batch_subject(requests), password=password)  # type: ignore[attr-defined]


def _station_leaf(current: Entry | None, station_id: str, csr: Any, days: int) -> Any:
    """What to issue for one station: a renewal of its valid device certificate (same
    names, the CSR's key), else a new device certificate without names; or the refusal."""
    from wsctl.pki.issuing import _Leaf

    if isinstance(csr, WsctlError):
        return csr
    if current is not None and current.status == "valid":
        if current.kind != "device":
            return InvalidInput(f"{station_id} is an {current.kind} in the store, not a device")
        try:
            ips = tuple(names.check_ip(i) for i in current.ips)
        except WsctlError as exc:
            return exc
        spec = builder.LeafSpec(
            kind="device", name=station_id, dns=tuple(names.check_dns(d) for d in current.dns), ips=ips, days=days
        )
        return _Leaf(spec, public_key=csr.public_key(), renewing=current)
    return _Leaf(builder.LeafSpec(kind="device", name=station_id, days=days), public_key=csr.public_key())


def _batch_subject(requests: Sequence[tuple[str, str]]) -> str:
    """The subject a store-wide failure (lock, passphrase, disk) is audited under."""
    shown = ",".join(sid for sid, _ in requests[:20])
    return f"device:{shown}" + (f",+{len(requests) - 20}" if len(requests) > 20 else "")


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
