"""Building certificates, CSRs and CRLs that strict verifiers accept.

RFC 5280 profile, chosen so that OpenSSL's and Python's X509_STRICT mode and
mbedTLS all accept the result: SKI and AKI everywhere, BasicConstraints and
KeyUsage critical, EKU on leaves, no other critical extension (mbedTLS fails on
unknown critical extensions and does not parse NameConstraints at all).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wsctl.core.errors import InvalidInput
from wsctl.pki.identity import identity_uri
from wsctl.pki.keys import signature_hash

ROOT_DAYS = 3650
ISSUING_DAYS = 1825
#: devices and laptops have skewed clocks; a certificate valid "from now" fails on them
BACKDATE = dt.timedelta(minutes=5)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: A device may listen (a PLC) and dial (an OCPP charger, a Shelly's outbound
#: websocket), so its certificate serves both TLS ends; it carries no role, so as
#: a client it can never run an operator's commands.  Operators only ever dial.
LEAF_EKUS = {
    "device": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    "operator": (ExtendedKeyUsageOID.CLIENT_AUTH,),
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def random_serial() -> int:
    """159 random bits: positive, at most 20 octets DER (RFC 5280 4.1.2.2), unguessable."""
    serial = 0
    while serial == 0:
        serial = x509.random_serial_number()
    return serial


def ca_names(ca_name: str) -> tuple[x509.Name, x509.Name]:
    """Subjects of the root and the issuing CA for a plant CA called `ca_name`."""

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ca_name), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        )

    return name(f"{ca_name} Root"), name(f"{ca_name} Issuing")


def _ski_aki(builder: x509.CertificateBuilder, public_key, issuer_public_key) -> x509.CertificateBuilder:
    return builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def build_root(key, ca_name: str, *, days: int = ROOT_DAYS, start: dt.datetime | None = None) -> x509.Certificate:
    subject, _ = ca_names(ca_name)
    start = start or now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    builder = _ski_aki(builder, key.public_key(), key.public_key())
    return builder.sign(key, signature_hash(key))


def build_issuing(
    key,
    root_cert: x509.Certificate,
    root_key,
    ca_name: str,
    *,
    days: int = ISSUING_DAYS,
    start: dt.datetime | None = None,
) -> x509.Certificate:
    _, subject = ca_names(ca_name)
    start = start or now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(min(start + dt.timedelta(days=days), root_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    builder = _ski_aki(builder, key.public_key(), root_key.public_key())
    return builder.sign(root_key, signature_hash(root_key))


@dataclass(frozen=True)
class LeafSpec:
    """What the operator approved for a leaf certificate; nothing else goes in."""

    kind: str  # "device" | "operator"
    name: str
    dns: tuple[str, ...] = ()
    ips: tuple[IPAddress, ...] = ()
    role: str | None = None
    days: int = 365

    def subject(self, organization: str | None) -> x509.Name:
        attrs = []
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        if self.kind == "operator" and self.role:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.role))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.name))
        return x509.Name(attrs)

    def general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        names += [x509.IPAddress(ip) for ip in self.ips]
        names.append(x509.UniformResourceIdentifier(identity_uri(self.kind, self.name)))
        return names


def _leaf_key_usage(public_key) -> x509.KeyUsage:
    # RSA keys may still meet TLS 1.2 RSA key transport on old peers; EC keys never encipher
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_leaf(
    spec: LeafSpec, public_key, issuing_cert: x509.Certificate, issuing_key, *, start: dt.datetime | None = None
) -> x509.Certificate:
    start = start or now()
    orgs = issuing_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject(str(orgs[0].value) if orgs else None))
        .issuer_name(issuing_cert.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + dt.timedelta(days=spec.days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(LEAF_EKUS[spec.kind])), critical=False)
        .add_extension(x509.SubjectAlternativeName(spec.general_names()), critical=False)
    )
    builder = _ski_aki(builder, public_key, issuing_key.public_key())
    return builder.sign(issuing_key, signature_hash(issuing_key))


def build_csr(
    key, name: str, *, dns: Sequence[str] = (), ips: Sequence[IPAddress] = ()
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ip) for ip in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, signature_hash(key))


REASONS: dict[str, x509.ReasonFlags] = {
    flag.value.lower(): flag for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl
}


def parse_reason(text: str) -> x509.ReasonFlags:
    """'key-compromise', 'keyCompromise', 'key_compromise' all name the same RFC 5280 reason."""
    key = text.replace("-", "").replace("_", "").lower()
    if key not in REASONS:
        names = ", ".join(sorted({reason_name(f) for f in REASONS.values()}))
        raise InvalidInput(f"unknown revocation reason {text!r}: one of {names}")
    return REASONS[key]


def _kebab(camel: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in camel).lstrip("-")


def reason_name(flag: x509.ReasonFlags) -> str:
    return _kebab(flag.value).replace("c-a-", "ca-").replace("a-a-", "aa-")


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags


def build_crl(
    issuing_cert: x509.Certificate,
    issuing_key,
    revoked: Iterable[Revocation],
    *,
    number: int,
    days: int,
    start: dt.datetime | None = None,
) -> x509.CertificateRevocationList:
    start = start or now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuing_cert.subject)
        .last_update(start - BACKDATE)
        .next_update(start + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for item in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(item.serial).revocation_date(item.revoked_at)
        # RFC 5280 5.3.1: "unspecified" SHOULD be expressed by leaving the reason out
        if item.reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(item.reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuing_key, signature_hash(issuing_key))
