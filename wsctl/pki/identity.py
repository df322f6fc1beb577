"""Who a certificate names: the wsctl identity encoding, read back from DER.

The encoding (decided, other layers depend on it):

* identity in a URI SAN: ``urn:wsctl:operator:NAME`` or ``urn:wsctl:device:NAME``
  (devices also carry their DNS/IP SANs; the CN is set but never relied on);
* an operator's role as the single OU of the subject, e.g. ``OU=engineer``.

The network layer calls `peer_identity(getpeercert(binary_form=True))` after the
TLS handshake has verified the chain; nothing here verifies anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from wsctl.core.errors import InvalidInput
from wsctl.core.known_devices import certificate_fingerprint

URN_PREFIX = "urn:wsctl:"


def identity_uri(kind: str, name: str) -> str:
    return f"{URN_PREFIX}{kind}:{name}"


def fingerprint(der: bytes) -> str:
    """SHA-256 of the DER certificate as ``sha256:<lower-case hex>`` (the form `--pin` takes)."""
    return certificate_fingerprint(der)


@dataclass(frozen=True)
class Identity:
    subject: str
    common_name: str | None
    kind: str | None
    name: str | None
    role: str | None
    uri: str | None
    fingerprint: str
    serial: int
    not_after: datetime


def _attrs(name: x509.Name, oid) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def identity_of(cert: x509.Certificate) -> Identity:
    from cryptography.hazmat.primitives.serialization import Encoding

    uri = kind = name = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for candidate in san.get_values_for_type(x509.UniformResourceIdentifier):
            if not candidate.startswith(URN_PREFIX):
                continue
            cand_kind, sep, cand_name = candidate[len(URN_PREFIX) :].partition(":")
            if sep and cand_kind in ("operator", "device") and cand_name:
                uri, kind, name = candidate, cand_kind, cand_name
                break
    cns = _attrs(cert.subject, NameOID.COMMON_NAME)
    ous = _attrs(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    # exactly one OU is the contract; several would make the role ambiguous, so none is read
    role = ous[0] if kind == "operator" and len(ous) == 1 else None
    return Identity(
        subject=cert.subject.rfc4514_string(),
        common_name=cns[0] if cns else None,
        kind=kind,
        name=name,
        role=role,
        uri=uri,
        fingerprint=fingerprint(cert.public_bytes(Encoding.DER)),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )


def peer_identity(der: bytes) -> Identity:
    """The identity of a peer certificate given as DER (e.g. `getpeercert(binary_form=True)`)."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"peer certificate does not parse: {exc}") from None
    return identity_of(cert)
