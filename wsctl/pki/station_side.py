"""The charging station's side of OCPP certificate management, as cryptography:
a new key and CSR when the central system asks for one, the check of the chain
it sends back, the roots InstallCertificate hands over, and which installed
root a DeleteCertificate's certificateHashData names.

What a station must check before it installs a chain (OCPP 2.0.1 use case
A02, the 1.6 security whitepaper's "Update Charge Point Certificate"): that it verifies up
to a root the station trusts (a root, never an intermediate, as the TLS side
does), that it is valid now, and that it certifies the key the station just
made — under the station's own id, so a central system cannot slip it another
station's certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import verification

from wsctl.core.errors import InvalidInput
from wsctl.pki import csr as csr_module
from wsctl.pki.identity import identity_of
from wsctl.pki.ocpp_hash import certificate_hash_data

#: OCPP's limit for CertificateSigned's certificateChain
CHAIN_LIMIT = 10000

#: the Web PKI's rules for a leaf, except that a station certificate needs no
#: subjectAltName: OCPP names the station in the subject (CN), and the CSMSs
#: that sign them often write nothing else
_STATION_LEAF = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
)


def new_key_and_csr(station_id: str) -> tuple[Any, str]:
    """A new EC P-256 key and a PEM CSR with CN = the station's id (what the hub requires)."""
    key, request = csr_module.create_csr(station_id, key_type="p256")
    return key, request.public_bytes(Encoding.PEM).decode("ascii")


def load_chain(pem: str) -> list[x509.Certificate]:
    if len(pem) > CHAIN_LIMIT:
        raise InvalidInput(f"the chain has {len(pem)} characters; OCPP allows {CHAIN_LIMIT}")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError:
        raise InvalidInput("the chain is not PEM certificates") from None
    return certs


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def roots_of(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The self-signed ones: only roots are trust anchors (an issuing CA in a CA file only helps build paths)."""
    return [c for c in certs if is_self_signed(c)]


def check_signed_chain(
    pem: str, *, anchors: Sequence[x509.Certificate], key: Any, station_id: str, now: dt.datetime
) -> list[x509.Certificate]:
    """The chain's certificates (leaf first), or InvalidInput saying in one line why the station refuses it."""
    if key is None:
        raise InvalidInput("no CSR is outstanding: this station asked for no certificate")
    certs = load_chain(pem)
    anchors = roots_of(anchors)  # an issuing CA among them must not anchor a chain
    if not anchors:
        raise InvalidInput("the station holds no root to verify the chain with")
    leaf, intermediates = certs[0], certs[1:]
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(now)
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_STATION_LEAF)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        raise InvalidInput(f"the chain does not verify against the station's roots: {exc}") from None
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise InvalidInput("the certificate is not for the key of this station's CSR")
    ident = identity_of(leaf)
    named = ident.name if ident.kind == "device" else ident.common_name
    if named != station_id:
        raise InvalidInput(f"the certificate names {named or 'nobody'}, not this station {station_id}")
    return certs


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def load_root(pem: str) -> x509.Certificate:
    """InstallCertificate's certificate: one self-signed CA certificate."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError:
        raise InvalidInput("not a PEM certificate") from None
    if len(certs) != 1:
        raise InvalidInput(f"{len(certs)} certificates: InstallCertificate carries one root")
    (cert,) = certs
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise InvalidInput(f"{cert.subject.rfc4514_string()} is not a CA certificate")
    if not is_self_signed(cert):
        raise InvalidInput(f"{cert.subject.rfc4514_string()} is not a root (not self-signed)")
    return cert


def names_root(cert: x509.Certificate, hash_data: Any) -> bool:
    """Does DeleteCertificate's certificateHashData name this (self-signed) root?"""
    if not isinstance(hash_data, dict):
        return False
    algorithm = hash_data.get("hashAlgorithm")
    try:
        mine = certificate_hash_data(cert, cert, str(algorithm))
    except InvalidInput:
        return False
    serial = str(hash_data.get("serialNumber", "")).lower().lstrip("0") or "0"
    return (
        str(hash_data.get("issuerNameHash", "")).lower() == mine["issuerNameHash"]
        and str(hash_data.get("issuerKeyHash", "")).lower() == mine["issuerKeyHash"]
        and serial == mine["serialNumber"]
    )
