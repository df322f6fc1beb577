"""Key types embedded peers cannot use are issued, but never silently."""

from __future__ import annotations

from wsctl.pki.csr import create_csr


def test_ed25519_operator_certificate_warns_about_mbedtls(pki):
    r = pki.certs("issue", "operator", "alice", "--role", "engineer", "--key-type", "ed25519")
    assert r.code == 0, r.err
    assert "warning: mbedTLS" in r.err and "Ed25519" in r.err
    plain = pki.certs("issue", "operator", "bob", "--role", "engineer")
    assert plain.code == 0 and "mbedTLS" not in plain.err


def test_ed25519_device_certificate_and_csr_warn(pki, tmp_path):
    r = pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1", "--key-type", "ed25519")
    assert r.code == 0 and "warning: mbedTLS devices cannot use Ed25519" in r.err
    from cryptography.hazmat.primitives.serialization import Encoding

    _, request = create_csr("carol", key_type="ed25519")
    csr = tmp_path / "carol.csr"
    csr.write_bytes(request.public_bytes(Encoding.PEM))
    signed = pki.certs("sign", csr, "--operator", "--role", "observer")
    assert signed.code == 0, signed.err
    assert "warning: mbedTLS" in signed.err
