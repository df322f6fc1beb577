"""One rule for "is this PEM key encrypted?" (issue 10 §2: it was checked four times, two ways)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wsctl.core.pem import is_encrypted_pem


def _pem(fmt, encryption) -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(serialization.Encoding.PEM, fmt, encryption)


def test_pkcs8_and_traditional_forms_both_ways():
    pw = serialization.BestAvailableEncryption(b"secret")
    plain = serialization.NoEncryption()
    assert is_encrypted_pem(_pem(serialization.PrivateFormat.PKCS8, pw))
    assert is_encrypted_pem(_pem(serialization.PrivateFormat.TraditionalOpenSSL, pw))  # Proc-Type: 4,ENCRYPTED
    assert not is_encrypted_pem(_pem(serialization.PrivateFormat.PKCS8, plain))
    assert not is_encrypted_pem(_pem(serialization.PrivateFormat.TraditionalOpenSSL, plain))


def test_the_word_in_the_base64_body_does_not_count():
    body = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\nxxENCRYPTEDxx\nAwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
    assert not is_encrypted_pem(body)
