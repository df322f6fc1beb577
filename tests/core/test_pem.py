"""One rule for "is this PEM key encrypted?" (issue 10 §2: it was checked four times, two ways)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from wsctl.core.pem import certificate_ders, is_encrypted_pem


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


def test_certificate_ders_finds_each_certificate_block():
    import base64

    one, two = b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02"

    def block(der: bytes, label: str = "CERTIFICATE") -> bytes:
        body = base64.encodebytes(der)
        return b"-----BEGIN " + label.encode() + b"-----\n" + body + b"-----END " + label.encode() + b"-----\n"

    text = b"subject=CN=x\n" + block(one) + block(b"key", "PRIVATE KEY") + b"\r\n" + block(two).replace(b"\n", b"\r\n")
    assert certificate_ders(text) == {one, two}
    assert certificate_ders(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n") <= {b""}
    assert certificate_ders(b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n") == set()  # never ended


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_certificate_ders_never_raises(data):
    assert isinstance(certificate_ders(data), set)
    assert isinstance(certificate_ders(b"-----BEGIN CERTIFICATE-----\n" + data + b"\n-----END CERTIFICATE-----\n"), set)
