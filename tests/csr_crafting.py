"""CSRs with bytes a CSR builder would never write, re-signed so that their signature is
valid: a subject whose UTF8String CN does not decode, a SAN extension that does not parse.

The CSR comes from wsctl's own `create_csr`; one substitution in its
CertificationRequestInfo, then an ECDSA-SHA256 signature over the result
(what /tmp/review-est/mkcsr.py does by hand)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from wsctl.pki.csr import create_csr
from wsctl.pki.csr_der import der_element, read_element

ECDSA_SHA256 = der_element(0x30, der_element(0x06, bytes.fromhex("2a8648ce3d040302")))
#: CN bytes that are no UTF-8 at all, kept as a UTF8String
BAD_UTF8 = b"\xff\xfe\xfd\xfc\xfb"


def patched_csr(name: str, old: bytes, new: bytes, *, dns: tuple[str, ...] = ()) -> bytes:
    """The DER of a P-256 CSR for NAME with OLD replaced by NEW (same length) in what is signed."""
    key, csr = create_csr(name, dns=dns, key_type="p256")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = csr.public_bytes(Encoding.DER)
    _, start, _ = read_element(der, 0)
    _, _, info_end = read_element(der, start)
    info = der[start:info_end]
    assert info.count(old) == 1 and len(old) == len(new)
    info = info.replace(old, new)
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    return der_element(0x30, info + ECDSA_SHA256 + der_element(0x03, b"\x00" + signature))


def bad_cn_csr(name: str) -> bytes:
    """CN=NAME's bytes replaced by ones that do not decode as the UTF8String they are tagged."""
    raw = name.encode()
    assert len(raw) == len(BAD_UTF8)
    return patched_csr(name, b"\x0c\x05" + raw, b"\x0c\x05" + BAD_UTF8)


def bad_san_csr(name: str) -> bytes:
    """A SAN whose one dNSName [2] is retagged as an OCTET STRING: no GeneralName."""
    return patched_csr(name, b"\x82\x04abcd", b"\x04\x04abcd", dns=("abcd",))


def pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
