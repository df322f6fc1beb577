"""OCPP's `certificateHashData` of a certificate: how a central system names an
installed certificate to `DeleteCertificate` and how a station lists them in
`GetInstalledCertificateIds`.

OCPP (1.6 security extension, 2.0.1 CertificateHashDataType) defines the
fields as those of an OCSP CertID (RFC 6960 4.1.1): the hash of the issuer's
DER-encoded name, the hash of the issuer's public key (the subjectPublicKey
BIT STRING's value, not the whole SubjectPublicKeyInfo), and the serial
number.  cryptography's OCSP request builder computes exactly a CertID, so it
is used rather than a hand-written BIT STRING extraction; the serial number is
written in hexadecimal without leading zeros, as OCPP's examples and the
reference implementations do.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from wsctl.core.errors import InvalidInput

ALGORITHMS: dict[str, hashes.HashAlgorithm] = {
    "SHA256": hashes.SHA256(),
    "SHA384": hashes.SHA384(),
    "SHA512": hashes.SHA512(),
}


def load_certificate(data: bytes, *, source: str) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        from wsctl.pki.store import certificate_parse_reason

        raise InvalidInput(f"{source}: not a certificate ({certificate_parse_reason(exc, data)})") from None


def certificate_hash_data(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> dict[str, Any]:
    """``{"hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"}`` for ``cert``."""
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"hash algorithm {algorithm!r}: OCPP knows {', '.join(ALGORITHMS)}")
    if cert.issuer != issuer.subject:
        raise InvalidInput(
            f"{issuer.subject.rfc4514_string()} did not issue this certificate (its issuer is {cert.issuer.rfc4514_string()})"
        )
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, ALGORITHMS[algorithm]).build()
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(),
        "serialNumber": format(request.serial_number, "x"),
    }


def self_signed_hash_data(cert: x509.Certificate, algorithm: str = "SHA256") -> dict[str, Any]:
    """A root CA names itself as issuer (InstallCertificate of a root, then DeleteCertificate)."""
    return certificate_hash_data(cert, cert, algorithm)
