"""certificateHashData as OCPP (an OCSP CertID) defines it, checked against
the hashes openssl computes for the same certificate independently."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cryptography import x509

from wsctl.core.errors import InvalidInput
from wsctl.pki.ocpp_hash import certificate_hash_data, self_signed_hash_data

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def openssl_cert_id(leaf_path, issuer_path, digest="sha256"):
    out = subprocess.run(
        [
            "openssl",
            "ocsp",
            f"-{digest}",
            "-issuer",
            str(issuer_path),
            "-cert",
            str(leaf_path),
            "-no_nonce",
            "-req_text",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    # long hashes (SHA-384, SHA-512) continue on the next line
    name = re.search(r"Issuer Name Hash: ([0-9A-F\s\\]+?)\s*Issuer Key Hash", out).group(1)
    key = re.search(r"Issuer Key Hash: ([0-9A-F\s\\]+?)\s*Serial Number", out).group(1)
    serial = re.search(r"Serial Number: ([0-9A-F]+)", out).group(1).lower().lstrip("0")
    name, key = ("".join(h.replace("\\", "").split()).lower() for h in (name, key))
    return name, key, serial


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_hash_data_equals_openssls_cert_id(pki, algorithm):
    leaf = x509.load_pem_x509_certificate(pki.device.cert.read_bytes())
    issuing_path = pki.store.issuing_cert_path
    issuing = x509.load_pem_x509_certificate(issuing_path.read_bytes())
    data = certificate_hash_data(leaf, issuing, algorithm)
    assert data["hashAlgorithm"] == algorithm
    assert (data["issuerNameHash"], data["issuerKeyHash"], data["serialNumber"]) == openssl_cert_id(
        pki.device.cert, issuing_path, algorithm.lower()
    )


def test_a_root_names_itself(pki):
    root = x509.load_pem_x509_certificate(pki.root.read_bytes())
    data = self_signed_hash_data(root)
    assert (data["issuerNameHash"], data["issuerKeyHash"], data["serialNumber"]) == openssl_cert_id(pki.root, pki.root)


def test_wrong_issuer_is_refused(pki):
    leaf = x509.load_pem_x509_certificate(pki.device.cert.read_bytes())
    root = x509.load_pem_x509_certificate(pki.root.read_bytes())
    with pytest.raises(InvalidInput, match="did not issue this certificate"):
        certificate_hash_data(leaf, root)
