"""Minimal DER reading and writing, and one repair of a CSR's DER before parsing: mbedTLS 2.x writes ECDSA signature
algorithms with a NULL parameter.

RFC 5758 says the parameters of ecdsa-with-SHA256/384/512 MUST be absent;
mbedTLS 2.28 (`mbedtls_x509write_csr_der`, what ESP-IDF v4 devices run) writes
``05 00``.  OpenSSL accepts it, cryptography refuses the whole request, so such a
device could neither be signed with `wsctl certs sign` nor enroll over EST.  The
outer signatureAlgorithm is not covered by the signature (only the
CertificationRequestInfo is), so dropping the NULL there changes nothing that
was signed, and the signature is still checked afterwards as for any CSR.
"""

from __future__ import annotations

#: the DER of the ecdsa-with-SHA256/384/512 OIDs (1.2.840.10045.4.3.2-4)
_ECDSA_OIDS = tuple(bytes.fromhex("06082a8648ce3d0403") + bytes([n]) for n in (2, 3, 4))
_NULL = b"\x05\x00"


def read_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at POS; ValueError if it overruns."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("overrun")
    return tag, pos, pos + length


def der_element(tag: int, content: bytes) -> bytes:
    """TAG, its DER length, CONTENT."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def without_ecdsa_null_parameter(der: bytes) -> bytes | None:
    """The CSR with the NULL dropped from its outer ECDSA signatureAlgorithm, or None
    when DER is not a CSR of that shape (then it is refused as it was)."""
    try:
        tag, start, end = read_element(der, 0)
        if tag != 0x30 or end != len(der):
            return None
        info_tag, _, info_end = read_element(der, start)
        alg_tag, alg_start, alg_end = read_element(der, info_end)
        sig_tag, _, sig_end = read_element(der, alg_end)
    except ValueError:
        return None
    algorithm = der[alg_start:alg_end]
    if (info_tag, alg_tag, sig_tag) != (0x30, 0x30, 0x03) or sig_end != end:
        return None
    if not any(algorithm == oid + _NULL for oid in _ECDSA_OIDS):
        return None
    fixed = der_element(0x30, algorithm[: -len(_NULL)])
    return der_element(0x30, der[start:info_end] + fixed + der[alg_end:end])
