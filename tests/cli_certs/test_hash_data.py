"""`wsctl certs hash-data FILE [--issuer FILE] [--algorithm A]`: the
certificateHashData DeleteCertificate takes, as wsctl.pki.ocpp_hash computes it
(itself checked against openssl in tests/pki/test_ocpp_hash.py); which
certificate is the issuer; bad input in one line, exit 8."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from wsctl.pki.ocpp_hash import certificate_hash_data


def load(path):
    return x509.load_pem_x509_certificates(path.read_bytes())


@pytest.fixture
def plant(pki):
    assert pki.certs("issue", "device", "CP-17", "--dns", "cp-17.plant", "--no-password").code == 0
    return pki.store_dir


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_a_root_names_itself(plant, wsctl, algorithm):
    root = plant / "ca" / "root.crt"
    result = wsctl("certs", "hash-data", root, "--algorithm", algorithm)
    assert result.code == 0, result.err
    (cert,) = load(root)
    assert json.loads(result.out) == certificate_hash_data(cert, cert, algorithm)
    assert json.loads(result.out)["hashAlgorithm"] == algorithm


def test_a_chain_file_is_hashed_with_its_next_certificate_as_issuer(plant, wsctl):
    chain = plant / "devices" / "CP-17" / "chain.pem"
    leaf, issuing = load(chain)
    result = wsctl("certs", "hash-data", chain)
    assert result.code == 0, result.err
    assert json.loads(result.out) == certificate_hash_data(leaf, issuing)
    # the same with the issuer named, and in --json mode the same object
    named = wsctl(
        "--json",
        "certs",
        "hash-data",
        plant / "devices" / "CP-17" / "cert.pem",
        "--issuer",
        plant / "ca" / "issuing.crt",
    )
    assert named.json_lines() == [certificate_hash_data(leaf, issuing)]


def test_bad_input_is_one_line_and_exit_8(plant, wsctl, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    cases = {
        (str(plant / "ca" / "issuing.crt"),): "is not self-signed: give its issuer with --issuer FILE",
        (str(tmp_path / "missing.pem"),): "cannot read",
        (str(junk),): "not a certificate",
        (str(plant / "devices" / "CP-17" / "cert.pem"), "--issuer", str(plant / "ca" / "root.crt")): "did not issue",
    }
    for args, words in cases.items():
        result = wsctl("certs", "hash-data", *args)
        assert result.code == 8, (args, result.err)
        assert words in result.one_error_line(), result.err
    assert wsctl("certs", "hash-data", plant / "ca" / "root.crt", "--algorithm", "MD5").code == 2


def test_a_file_that_is_not_a_certificate_is_named_without_the_parser_internals(wsctl, tmp_path):
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    result = wsctl("certs", "hash-data", text)
    assert result.code == 8
    assert "not a PEM or DER certificate" in result.one_error_line()
    assert "ParseError" not in result.err and "asn1" not in result.err
