"""The PKI objects EST sends and receives: certs-only PKCS#7, CSR attributes, PKCS#10 bodies.

The CSR goes through `wsctl.pki.csr.load_csr`, the same check `wsctl certs
sign` applies (parsable, signed by the key it carries).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from wsctl.core.errors import InvalidInput
from wsctl.core.est_http import EstRequestError, decode_base64_body
from wsctl.pki.csr import load_csr
from wsctl.pki.csr_der import der_element

#: the largest CSR accepted, decoded (an RSA-4096 CSR with many SANs is ~2 KiB)
MAX_CSR_BYTES = 16 * 1024


def certs_only(certs: Sequence[x509.Certificate]) -> bytes:
    """A degenerate SignedData (RFC 5652, no signers): RFC 7030's Simple PKI Response, DER."""
    return pkcs7.serialize_certificates(list(certs), Encoding.DER)


def csr_from_body(body: bytes) -> tuple[bytes, x509.CertificateSigningRequest]:
    """(DER, CSR) of a base64 PKCS#10 body; a 400 for anything `certs sign` would refuse."""
    der = decode_base64_body(body)
    if len(der) > MAX_CSR_BYTES:
        raise EstRequestError(413, f"the CSR is over {MAX_CSR_BYTES} bytes")
    try:
        return der, load_csr(der, source="the CSR")
    except InvalidInput as exc:
        raise EstRequestError(400, exc.message) from None


# -- CSR attributes (RFC 7030 section 4.5.2), DER by hand: a few small shapes --------
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_SECP256R1 = "1.2.840.10045.3.1.7"


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return der_element(0x06, bytes(body))


def csr_attributes() -> bytes:
    """What a client should put in its CSR: a P-256 key, signed with ECDSA-SHA256 —
    the store's default leaf key, and what mbedTLS devices verify."""
    curve = der_element(0x30, _oid(_EC_PUBLIC_KEY) + der_element(0x31, _oid(_SECP256R1)))
    return der_element(0x30, _oid(_ECDSA_SHA256) + curve)
