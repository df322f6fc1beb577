"""PEM text without cryptography (pure): is a private key encrypted, which certificates a file holds.

PKCS#8 says so in its BEGIN line (`BEGIN ENCRYPTED PRIVATE KEY`), the
traditional OpenSSL form in a header line (`Proc-Type: 4,ENCRYPTED`); only those
lines are looked at, never the base64 body, where the letters could occur by chance.
"""

from __future__ import annotations


def is_encrypted_pem(data: bytes) -> bool:
    for line in data[:1024].splitlines()[:4]:
        line = line.strip()
        if line.startswith(b"-----BEGIN ") and b"ENCRYPTED" in line:
            return True
        if line.startswith(b"Proc-Type:") and b"ENCRYPTED" in line:
            return True
    return False


def certificate_ders(data: bytes) -> set[bytes]:
    """The DER of every ``CERTIFICATE`` block in PEM ``data`` (blocks that do not
    decode are skipped: this answers "is this certificate in the file", the TLS
    layer reports a broken file)."""
    import binascii

    found: set[bytes] = set()
    body: list[bytes] | None = None
    for line in data.splitlines():
        line = line.strip()
        if line == b"-----BEGIN CERTIFICATE-----":
            body = []
        elif line == b"-----END CERTIFICATE-----" and body is not None:
            try:
                found.add(binascii.a2b_base64(b"".join(body)))
            except binascii.Error:
                pass
            body = None
        elif body is not None:
            body.append(line)
    return found
