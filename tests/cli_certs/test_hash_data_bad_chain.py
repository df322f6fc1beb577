"""`wsctl certs hash-data CHAIN` whose first certificate reads but a later PEM block
does not: the usual one-line invalid-input error (exit 8), no internal error; with
--issuer the rest of the file is not needed."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from wsctl.pki.ocpp_hash import certificate_hash_data


def broken_block(plant, kind: str) -> str:
    """A PEM certificate block whose base64 is fine but whose DER is no certificate."""
    if kind == "zeros":
        return "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n"
    head, first, *_ = (plant / "ca" / "issuing.crt").read_text().splitlines()
    return f"{head}\n{first}\n-----END CERTIFICATE-----\n"  # the issuing CA cut after 48 bytes


@pytest.fixture
def plant(pki):
    assert pki.certs("issue", "device", "CP-17", "--dns", "cp-17.plant", "--no-password").code == 0
    return pki.store_dir


@pytest.mark.parametrize("broken", ["zeros", "truncated"])
def test_a_garbage_second_certificate_is_exit_8(plant, wsctl, tmp_path, broken):
    chain = tmp_path / "chain.pem"
    chain.write_text((plant / "devices" / "CP-17" / "cert.pem").read_text() + broken_block(plant, broken))
    result = wsctl("certs", "hash-data", chain)
    assert result.code == 8, result.err
    assert "a certificate after the first is not readable" in result.one_error_line()
    assert "internal error" not in result.err

    named = wsctl("certs", "hash-data", chain, "--issuer", plant / "ca" / "issuing.crt")
    assert named.code == 0, named.err
    leaf = x509.load_pem_x509_certificate((plant / "devices" / "CP-17" / "cert.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((plant / "ca" / "issuing.crt").read_bytes())
    assert json.loads(named.out) == certificate_hash_data(leaf, issuing)
