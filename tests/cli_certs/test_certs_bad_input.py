"""Each bad input: one `wsctl: error:` line, the documented exit code, the store unchanged."""

from __future__ import annotations

import pytest
from cli_helpers import run_wsctl, snapshot

ERROR, USAGE, TLS, INVALID = 1, 2, 4, 8


@pytest.fixture
def populated(pki, tmp_path):
    assert pki.certs("issue", "device", "plc", "--ip", "10.0.0.1").code == 0
    assert pki.certs("issue", "operator", "alice", "--role", "engineer").code == 0
    assert pki.certs("csr", "dev-9", "--ip", "10.0.0.9", "--out", tmp_path / "csr", "--no-password").code == 0
    return pki


def _csr_with_bad_signature(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_csr((tmp_path / "csr" / "dev-9.csr").read_bytes()).public_bytes(Encoding.DER)
    bad = tmp_path / "tampered.csr"
    bad.write_bytes(der.replace(b"dev-9", b"dev-8"))
    return bad


CASES = {
    "wrong passphrase": (
        ("issue", "device", "x", "--ip", "10.0.0.2"),
        {"WSCTL_PASSWORD": "wrong"},
        ERROR,
        "wrong passphrase",
    ),
    "wrong passphrase on revoke": (("revoke", "plc"), {"WSCTL_PASSWORD": "wrong"}, ERROR, "wrong passphrase"),
    "no passphrase and no terminal": (("crl",), {"WSCTL_PASSWORD": ""}, ERROR, "no terminal"),
    "init over existing CA": (("init",), {}, ERROR, "already exists"),
    "unknown name (show)": (("show", "nobody"), {}, ERROR, "no certificate named 'nobody'"),
    "unknown name (revoke)": (("revoke", "nobody"), {}, ERROR, "no certificate named 'nobody'"),
    "unknown name (renew)": (("renew", "nobody"), {}, ERROR, "no certificate named 'nobody'"),
    "duplicate name": (("issue", "device", "plc", "--ip", "10.0.0.3"), {}, ERROR, "already exists"),
    "duplicate name across kinds": (("issue", "operator", "plc", "--role", "observer"), {}, ERROR, "already exists"),
    "invalid IP": (("issue", "device", "x", "--ip", "10.0.0.256"), {}, INVALID, "invalid IP address"),
    "invalid DNS": (("issue", "device", "x", "--dns", "under_score.local"), {}, INVALID, "invalid DNS name"),
    "IP given as DNS": (("issue", "device", "x", "--dns", "10.0.0.4"), {}, INVALID, "pass it with --ip"),
    "no names for a device": (("issue", "device", "x"), {}, INVALID, "at least one --dns or --ip"),
    "unknown role": (("issue", "operator", "eve", "--role", "admin"), {}, INVALID, "unknown role 'admin'"),
    "invalid store name": (("issue", "operator", "../eve", "--role", "observer"), {}, INVALID, "invalid name"),
    "bad revocation reason": (("revoke", "plc", "--reason", "bored"), {}, INVALID, "unknown revocation reason"),
    "bad CSR signature": (("sign", "@bad-csr", "--device", "--ip", "10.0.0.9"), {}, INVALID, "bad signature"),
    "CSR that is not a CSR": (("sign", "@garbage", "--device", "--ip", "10.0.0.9"), {}, INVALID, "not a readable"),
    "sign without a kind": (("sign", "@good-csr", "--ip", "10.0.0.9"), {}, USAGE, "--device or --operator"),
    "operator CSR without role": (("sign", "@good-csr", "--operator"), {}, INVALID, "needs a role"),
    "corrupted PEM file": (("show", "@garbage"), {}, INVALID, "not a readable certificate"),
    "rekey of a CSR-signed cert": None,  # covered below: needs a signed CSR first
}


@pytest.mark.parametrize("case", [k for k, v in CASES.items() if v])
def test_bad_input(populated, tmp_path, case):
    args, environ, code, message = CASES[case]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    files = {
        "@bad-csr": _csr_with_bad_signature(tmp_path),
        "@garbage": garbage,
        "@good-csr": tmp_path / "csr" / "dev-9.csr",
    }
    args = [str(files.get(a, a)) for a in args]
    before = snapshot(populated.store_dir)
    r = populated.certs(*args, **environ)
    assert r.code == code, (r.code, r.err)
    assert message in r.one_error_line()
    assert snapshot(populated.store_dir) == before


def test_revoking_twice(populated):
    assert populated.certs("revoke", "alice").code == 0
    before = snapshot(populated.store_dir)
    r = populated.certs("revoke", "alice")
    assert r.code == ERROR and "already revoked" in r.one_error_line()
    assert snapshot(populated.store_dir) == before


def test_rekey_of_csr_signed_certificate_is_refused(populated, tmp_path):
    assert populated.certs("sign", tmp_path / "csr" / "dev-9.csr", "--device", "--ip", "10.0.0.9").code == 0
    before = snapshot(populated.store_dir)
    r = populated.certs("renew", "dev-9", "--rekey")
    assert r.code == ERROR and "lives on the device" in r.one_error_line()
    assert snapshot(populated.store_dir) == before


def test_missing_store(tmp_path):
    for args in (
        ["list"],
        ["issue", "device", "x", "--ip", "10.0.0.1"],
        ["revoke", "x"],
        ["crl"],
        ["export", "ca"],
        ["verify", "x"],
    ):
        r = run_wsctl("certs", "--dir", tmp_path / "none", *args, environ={"WSCTL_PASSWORD": "pw"})
        assert r.code == ERROR, (args, r.err)
        assert "no PKI store" in r.one_error_line() or "no certificate named" in r.one_error_line()
        assert not (tmp_path / "none").exists()


def test_corrupted_index(populated):
    index = populated.store_dir / "index.json"
    index.write_text(index.read_text()[:-40])
    before = snapshot(populated.store_dir)
    for args in (["list"], ["issue", "device", "y", "--ip", "10.0.0.7"], ["revoke", "plc"], ["crl"]):
        r = populated.certs(*args)
        assert r.code == ERROR and "index.json is corrupted" in r.one_error_line(), r.err
    assert snapshot(populated.store_dir) == before


def test_corrupted_pem_in_store(populated):
    (populated.store_dir / "ca" / "issuing.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    before = snapshot(populated.store_dir)
    r = populated.certs("issue", "device", "y", "--ip", "10.0.0.7")
    line = r.one_error_line()
    assert r.code == ERROR and "issuing.crt is not a readable certificate" in line
    assert "ParseError" not in line  # the parser's internals are not the operator's business
    r = populated.certs("verify", "plc")
    assert r.code == ERROR and "issuing.crt" in r.one_error_line()
    assert snapshot(populated.store_dir) == before


def test_corrupted_ca_key(populated):
    key = populated.store_dir / "ca" / "issuing.key"
    key.write_text(key.read_text().replace("A", "B", 5))
    r = populated.certs("crl")
    # the key is encrypted (its header survives): a damaged body cannot be told from a
    # wrong passphrase, and the message says both
    line = r.one_error_line()
    assert r.code == ERROR and "wrong passphrase for " in line and "issuing.key (or the key file is damaged)" in line


def test_json_errors_are_json(populated):
    r = run_wsctl("--json", "certs", "--dir", populated.store_dir, "revoke", "nobody", environ={"WSCTL_PASSWORD": "x"})
    import json

    obj = json.loads(r.err.strip())
    assert r.code == ERROR and obj["exit_code"] == ERROR and obj["error"] == "error" and obj["cause"] == "store"


def test_show_of_a_directory_says_it_is_one(pki, tmp_path):
    r = pki.certs("show", str(tmp_path))
    assert r.code == 8 and "is a directory, not a certificate file" in r.one_error_line()
