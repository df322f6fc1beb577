"""EST and `wsctl certs sign` check a CSR with the same code (`wsctl.pki.csr.load_csr`),
including the repair of mbedTLS 2.x's NULL parameter in an ECDSA signatureAlgorithm."""

from __future__ import annotations

import base64

import pytest
from cli_runner import run_in_process
from cryptography.hazmat.primitives.serialization import Encoding
from est_helpers import PW

from wsctl.core.errors import InvalidInput
from wsctl.pki.csr import create_csr, load_csr
from wsctl.pki.csr_der import der_element, read_element, without_ecdsa_null_parameter
from wsctl.pki.est_auth import Authenticator, Credentials
from wsctl.pki.est_enroll import Enroller
from wsctl.pki.est_labels import Label

ECDSA_SHA256_DER = bytes.fromhex("300a06082a8648ce3d040302")
WITH_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")


def mbedtls_shaped(name: str) -> bytes:
    """A CSR as mbedTLS 2.28 writes it: `ecdsa-with-SHA256` followed by NULL in the
    outer signatureAlgorithm (outside what is signed, so the signature stays valid)."""
    der = create_csr(name, dns=["asked.example"])[1].public_bytes(Encoding.DER)
    assert der.count(ECDSA_SHA256_DER) == 1
    _, start, end = read_element(der, 0)
    return der_element(0x30, der[start:end].replace(ECDSA_SHA256_DER, WITH_NULL))


def test_an_mbedtls_shaped_csr_is_repaired_and_its_signature_still_checked():
    der = mbedtls_shaped("esp-1")
    assert load_csr(der).is_signature_valid
    tampered = bytearray(der)
    tampered[-1] ^= 1
    with pytest.raises(InvalidInput, match="bad signature"):
        load_csr(bytes(tampered))


def test_the_repair_touches_only_that_shape():
    plain = create_csr("esp-1")[1].public_bytes(Encoding.DER)
    assert without_ecdsa_null_parameter(plain) is None
    assert without_ecdsa_null_parameter(b"\x30\x03\x02\x01\x00") is None


def test_certs_sign_and_est_issue_the_same_certificate_from_the_same_csr(tmp_path, plant):
    csr_file = tmp_path / "esp-1.csr"
    csr_file.write_bytes(mbedtls_shaped("esp-1"))
    environ = {"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)}
    signed = run_in_process("certs", "sign", str(csr_file), "--device", "--dns", "esp-1.plant.local", environ=environ)
    assert signed.returncode == 0, signed.stderr
    by_sign = plant.store.find("esp-1")
    plant.store.revoke("esp-1", password=PW)
    secret, _ = plant.book.issue_code("esp-1", kind="device", ttl=60, dns=["esp-1.plant.local"])
    enroller = Enroller(plant.store, plant.book, [Label(name="default")], PW, Authenticator(plant.book, [], {}))
    body = base64.b64encode(mbedtls_shaped("esp-1"))
    answer = enroller.enroll(
        None, "simpleenroll", Credentials("x", basic=("esp-1", secret)), b"application/pkcs10", body
    )
    assert answer.status == 200, answer.body
    by_est = plant.store.find("esp-1")
    assert (by_est.dns, by_est.ips, by_est.kind, by_est.has_key) == (by_sign.dns, by_sign.ips, by_sign.kind, False)
