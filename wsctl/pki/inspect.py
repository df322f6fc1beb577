"""Describing certificates (for `show`) and checking them against the store (for `verify`).

`verify_leaf` does what a TLS peer of ours would do — chain to the store's root
through its issuing CA, dates, revocation by the store's CRL, EKU for the
purpose, host name or IP from the SANs only — and reports the first failure as
one line.  Failures are `CertificateRejected`, a TLSError (exit code 4):
the certificate would be refused in a handshake for the same reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from wsctl.core.errors import InvalidInput, TLSError
from wsctl.pki.identity import identity_of
from wsctl.pki.index import format_serial
from wsctl.pki.keys import key_type_of
from wsctl.pki.names import host_matches


class CertificateRejected(TLSError):
    cause = "certificate_rejected"


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
PURPOSE_EKU = {"device": ExtendedKeyUsageOID.SERVER_AUTH, "operator": ExtendedKeyUsageOID.CLIENT_AUTH}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ext(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def eku_names(cert: x509.Certificate) -> list[str]:
    eku = _ext(cert, x509.ExtendedKeyUsage)
    return [] if eku is None else [_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku]


def describe(cert: x509.Certificate) -> dict[str, Any]:
    """Everything `show` prints, as a JSON-ready dict with stable keys."""
    ident = identity_of(cert)
    san = _ext(cert, x509.SubjectAlternativeName)
    bc = _ext(cert, x509.BasicConstraints)
    ku = _ext(cert, x509.KeyUsage)
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    key_usage = []
    if ku is not None:
        key_usage = [f for f in _KU_FIELDS if getattr(ku, f)]
    return {
        "subject": ident.subject,
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format_serial(cert.serial_number),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "key_type": key_type_of(cert.public_key()),
        "signature_algorithm": cert.signature_algorithm_oid._name,
        "fingerprint": ident.fingerprint,
        "kind": ident.kind,
        "name": ident.name,
        "role": ident.role,
        "uri": ident.uri,
        "common_name": ident.common_name,
        "dns": [] if san is None else san.get_values_for_type(x509.DNSName),
        "ips": [] if san is None else [str(i) for i in san.get_values_for_type(x509.IPAddress)],
        "is_ca": bool(bc and bc.ca),
        "path_length": bc.path_length if bc else None,
        "key_usage": key_usage,
        "extended_key_usage": eku_names(cert),
        "subject_key_id": ski.digest.hex() if ski else None,
        "authority_key_id": aki.key_identifier.hex() if aki and aki.key_identifier else None,
        "extensions": [
            {"oid": e.oid.dotted_string, "name": e.oid._name, "critical": e.critical} for e in cert.extensions
        ],
        "der_size": len(cert.public_bytes(Encoding.DER)),
    }


def _check_signed_by(cert: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateRejected(
            f"{what} was not issued by this store's CA ({issuer.subject.rfc4514_string()})",
            hint="unknown CA: it comes from another PKI, or the CA was re-initialised",
        ) from None


def _check_dates(cert: x509.Certificate, what: str, at: dt.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateRejected(f"{what} is not valid yet (from {_iso(cert.not_valid_before_utc)})")
    if at > cert.not_valid_after_utc:
        raise CertificateRejected(f"{what} expired on {_iso(cert.not_valid_after_utc)}")


def check_host(cert: x509.Certificate, host: str) -> None:
    """Host name or IP against the SANs only (the CN is never consulted, as in RFC 6125)."""
    san = _ext(cert, x509.SubjectAlternativeName)
    dns = [] if san is None else san.get_values_for_type(x509.DNSName)
    ips = [] if san is None else san.get_values_for_type(x509.IPAddress)
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addr = None
    if addr is not None:
        if addr not in ips:
            raise CertificateRejected(
                f"IP {addr} is not in the certificate (IP SANs: {', '.join(map(str, ips)) or 'none'})"
            )
    elif not any(host_matches(pattern, host) for pattern in dns):
        raise CertificateRejected(f"host {host} is not in the certificate (DNS SANs: {', '.join(dns) or 'none'})")


def verify_leaf(
    cert: x509.Certificate,
    *,
    root: x509.Certificate,
    issuing: x509.Certificate,
    crl: x509.CertificateRevocationList | None,
    host: str | None = None,
    purpose: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Check `cert` as a peer would; return what was checked, or raise CertificateRejected."""
    at = at or dt.datetime.now(dt.UTC)
    ident = identity_of(cert)
    what = f"{ident.kind or 'certificate'} {ident.name or ident.common_name or format_serial(cert.serial_number)}"
    checks: list[str] = []
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise InvalidInput(f"{what} is a CA certificate; verify checks device and operator certificates")
    _check_signed_by(issuing, root, "the issuing CA")
    _check_signed_by(cert, issuing, what)
    checks.append("chain")
    for c, label in ((root, "the root CA"), (issuing, "the issuing CA"), (cert, what)):
        _check_dates(c, label, at)
    checks.append("dates")
    if crl is None:
        raise CertificateRejected(
            "the store has no CRL, so revocation cannot be checked", hint="'wsctl certs crl' writes one"
        )
    issuer_key = issuing.public_key()
    if (
        crl.issuer != issuing.subject
        or not isinstance(issuer_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey))
        or not crl.is_signature_valid(issuer_key)
    ):
        raise CertificateRejected("the store's CRL is not signed by its issuing CA", hint="'wsctl certs crl'")
    if crl.next_update_utc is not None and at > crl.next_update_utc:
        raise CertificateRejected(
            f"the store's CRL expired on {_iso(crl.next_update_utc)}; peers that check "
            "CRLs refuse every certificate now",
            hint="'wsctl certs crl' re-issues it",
        )
    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if revoked is not None:
        raise CertificateRejected(f"{what} is revoked (since {_iso(revoked.revocation_date_utc)})")
    checks.append("revocation")
    purpose = purpose or ident.kind
    if purpose is not None:
        if purpose not in PURPOSE_EKU:
            raise InvalidInput(f"unknown purpose {purpose!r}: device or operator")
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is None or PURPOSE_EKU[purpose] not in eku:
            need = _EKU_NAMES[PURPOSE_EKU[purpose]]
            raise CertificateRejected(
                f"{what} cannot act as a {purpose}: extended key usage lacks {need} "
                f"(has {', '.join(eku_names(cert)) or 'none'})"
            )
        if purpose == "operator" and ident.role is None:
            # a device certificate also carries clientAuth (devices dial), but no role
            raise CertificateRejected(f"{what} cannot act as an operator: it carries no role (no single OU)")
        checks.append(f"purpose:{purpose}")
    ku = _ext(cert, x509.KeyUsage)
    if ku is None or not ku.digital_signature:
        raise CertificateRejected(f"{what} lacks the digitalSignature key usage that TLS (and mbedTLS) require")
    if host:
        check_host(cert, host)
        checks.append(f"host:{host}")
    return {
        "ok": True,
        "subject": ident.subject,
        "serial": format_serial(cert.serial_number),
        "fingerprint": ident.fingerprint,
        "checks": checks,
    }
