"""Certificate signing requests: make one as a device would, load and check one."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from wsctl.core.errors import InvalidInput
from wsctl.pki import builder, keys, names


def create_csr(name: str, *, dns: Sequence[str] = (), ips: Sequence[str] = (), key_type: str = keys.DEFAULT_KEY_TYPE):
    """A new key and a CSR for it, CN=name plus the SANs asked for (the signer ignores those)."""
    names.check_name(name)
    dns_names = [names.check_dns(d) for d in dns]
    addresses = [names.check_ip(a) for a in ips]
    key = keys.generate_key(key_type)
    return key, builder.build_csr(key, name, dns=dns_names, ips=addresses)


def load_csr(data: bytes, *, source: str = "CSR") -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR and insist that it is signed by the key it carries."""
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError as exc:
        repaired = _mbedtls_repaired(data)
        if repaired is not None:
            return load_csr(repaired, source=source)
        raise InvalidInput(
            f"{source} is not a readable certificate signing request ({str(exc).split('. See https://')[0][:120]})"
        ) from None
    _check_parts(csr, source)
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # noqa: BLE001 - odd key types surface here as various errors
        raise InvalidInput(f"{source}: cannot check its signature ({exc})") from None
    if not valid:
        raise InvalidInput(f"{source} has a bad signature: it was not signed by the key it carries (tampered?)")
    return csr


def _check_parts(csr: x509.CertificateSigningRequest, source: str) -> None:
    """Parse the subject and the extensions now: cryptography does it lazily, on first
    access, and a ValueError there (an invalid UTF8String CN) would escape every caller
    that reads the CN (EST's 500, the hub dropping the station) instead of refusing it."""
    try:
        csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    except ValueError:
        raise InvalidInput(f"{source} has a malformed subject (an attribute value that does not decode)") from None
    try:
        len(csr.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise InvalidInput(f"{source} has a malformed extension request ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    text = str(exc).split(". See https://")[0]
    return "an extension that does not parse" if "ParseError" in text else text[:120]


def _mbedtls_repaired(data: bytes) -> bytes | None:
    """The DER of a CSR from mbedTLS 2.x with its stray NULL dropped (`csr_der`), else None."""
    import base64
    import binascii

    from wsctl.pki.csr_der import without_ecdsa_null_parameter

    if b"-----BEGIN" in data:
        lines = [line.strip() for line in data.splitlines()]
        body = b"".join(line for line in lines if line and not line.startswith(b"-----"))
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return without_ecdsa_null_parameter(data)


def requested_names(csr: x509.CertificateSigningRequest) -> list[str]:
    """The SANs a CSR asks for, shown to the operator; never copied into a certificate."""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [f"DNS:{v}" for v in san.get_values_for_type(x509.DNSName)] + [
        f"IP:{v}" for v in san.get_values_for_type(x509.IPAddress)
    ]
