"""Is a PEM private key encrypted?  One rule for every caller (pure, no cryptography).

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
