"""`wsctl certs export NAME --format device-bundle|pem-key|der-key` (issue 9, item 17).

A device needs its key in the clear, its chain and the root; the proof that the
bundle is what a device eats is a real mbedTLS server (tests/net/peers/mbedtls_server.c,
built with gcc against Debian's libmbedtls-dev) loaded with the bundle's files,
which `wsctl send` then reaches verifying against the store; openssl parses the DER.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import STORE_PASS
from mbedtls_peer import build_mbedtls_server

BUNDLE_FILES = ["README.txt", "cert.der", "cert.pem", "chain.pem", "key.der", "key.pem", "root.der", "root.pem"]
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def _openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def plant(pki):
    """A store with a device whose key is encrypted (the default) and an operator."""
    assert pki.certs("issue", "device", "esp-1", "--ip", "127.0.0.1").code == 0
    assert pki.certs("issue", "operator", "alice", "--role", "engineer").code == 0
    return pki


@pytest.fixture(scope="module")
def mbedtls_server(tmp_path_factory) -> Path:
    return build_mbedtls_server(tmp_path_factory.mktemp("mbedtls"))


def test_bundle_holds_the_plain_key_cert_chain_and_root_all_0600(plant, tmp_path):
    out = tmp_path / "esp-1-bundle"
    r = plant.certs("export", "esp-1", "--format", "device-bundle", "--out", out)
    assert r.code == 0, r.err
    assert "UNENCRYPTED" in r.err and str(out) in r.err  # the warning names what to delete
    assert sorted(os.listdir(out)) == BUNDLE_FILES
    assert out.stat().st_mode & 0o777 == 0o700
    assert {(out / f).stat().st_mode & 0o777 for f in BUNDLE_FILES} == {0o600}
    assert (out / "key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, no passphrase
    store_dev = plant.store_dir / "devices" / "esp-1"
    assert (out / "chain.pem").read_bytes() == (store_dev / "chain.pem").read_bytes()
    assert (out / "root.pem").read_bytes() == (plant.store_dir / "ca" / "root.crt").read_bytes()
    readme = (out / "README.txt").read_text()
    assert "strlen(pem) + 1" in readme and "mbedtls_pk_parse_key" in readme
    audit = [json.loads(line) for line in (plant.store_dir / "audit.log").read_text().splitlines()]
    assert (audit[-1]["action"], audit[-1]["format"], audit[-1]["key"]) == ("export", "device-bundle", True)


@needs_openssl
def test_bundle_der_parses_with_openssl_and_the_key_matches_the_cert(plant, tmp_path):
    out = tmp_path / "b"
    assert plant.certs("export", "esp-1", "--format", "device-bundle", "--out", out).code == 0
    key_pub = _openssl("pkey", "-inform", "DER", "-in", str(out / "key.der"), "-pubout")
    cert_pub = _openssl("x509", "-inform", "DER", "-in", str(out / "cert.der"), "-noout", "-pubkey")
    assert key_pub == cert_pub and "BEGIN PUBLIC KEY" in key_pub
    assert "Plant" in _openssl("x509", "-inform", "DER", "-in", str(out / "root.der"), "-noout", "-subject")
    # python's ssl (OpenSSL) takes the PEM pair as a server would, with no passphrase
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(out / "chain.pem", out / "key.pem")


def test_bundle_loaded_into_a_real_mbedtls_device_is_reached_by_wsctl(plant, tmp_path, mbedtls_server):
    """The device presents chain.pem with key.der and checks operators against root.der;
    wsctl verifies it against the store. TLS completes both ways: the device's
    verdict is "HANDSHAKE 0" and its HTTP 404 to the upgrade is exit 5 (not 4)."""
    out = tmp_path / "b"
    assert plant.certs("export", "esp-1", "--format", "device-bundle", "--out", out).code == 0
    device = subprocess.Popen(
        [str(mbedtls_server), str(out / "chain.pem"), str(out / "key.der"), str(out / "root.der")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = device.stdout.readline()
        assert line.startswith("PORT "), (line, device.stderr.read() if device.poll() is not None else "")
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsctl",
                "send",
                f"wss://127.0.0.1:{line.split()[1]}/",
                "--certs",
                str(plant.store_dir),
                "--operator",
                "alice",
                "--raw",
                "x",
                "--connect-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "WSCTL_PASSWORD": STORE_PASS},
        )
        said, _ = device.communicate(timeout=10)
    finally:
        if device.poll() is None:
            device.kill()
            device.wait(10)
    assert "HANDSHAKE 0" in said, said
    assert sent.returncode == 5 and "404" in sent.stderr, sent.stderr


@needs_openssl
def test_pem_key_and_der_key_are_the_plain_key_written_0600_with_a_warning(plant, tmp_path):
    for fmt, name, inform in (("pem-key", "k.pem", "PEM"), ("der-key", "k.der", "DER")):
        r = plant.certs("export", "alice", "--format", fmt, "--out", tmp_path / name)
        assert r.code == 0, r.err
        assert "UNENCRYPTED" in r.err
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
        _openssl("pkey", "-inform", inform, "-in", str(tmp_path / name), "-noout", "-passin", "pass:")
    piped = plant.certs("export", "alice", "--format", "pem-key")  # redirected stdout (not a terminal): allowed
    assert piped.code == 0 and piped.out.encode() == (tmp_path / "k.pem").read_bytes()


def test_a_key_with_its_own_passphrase_needs_it(pki, tmp_path):
    (tmp_path / "kp").write_text("own-key-passphrase\n")
    assert pki.certs("issue", "device", "own", "--ip", "10.0.0.9", "--key-password-file", tmp_path / "kp").code == 0
    wrong = pki.certs("export", "own", "--format", "pem-key", "--out", tmp_path / "k.pem")  # store passphrase
    assert wrong.code == 1 and "passphrase" in wrong.one_error_line()
    assert not (tmp_path / "k.pem").exists()
    right = pki.certs(
        "export", "own", "--format", "device-bundle", "--out", tmp_path / "b", "--key-password-file", tmp_path / "kp"
    )
    assert right.code == 0, right.err
    assert (tmp_path / "b" / "key.der").stat().st_size > 0


def test_refusals_leave_nothing_behind(plant, tmp_path):
    r = plant.certs("export", "ca", "--format", "pem-key", "--out", tmp_path / "ca.key")
    assert r.code == 8 and "never leave the store" in r.one_error_line()
    r = plant.certs("export", "ca", "--format", "device-bundle", "--out", tmp_path / "cab")
    assert r.code == 8 and "never leave the store" in r.one_error_line()
    r = plant.certs("export", "esp-1", "--format", "device-bundle")
    assert r.code == 2 and "--out DIR" in r.one_error_line()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "other").write_text("keep me")
    r = plant.certs("export", "esp-1", "--format", "device-bundle", "--out", busy)
    assert r.code == 8 and "not empty" in r.one_error_line()
    assert os.listdir(busy) == ["other"]
    assert sorted(os.listdir(tmp_path)) == ["busy", "certs"]  # no ca.key, no cab, no staging directory
    empty = tmp_path / "empty"
    empty.mkdir()
    assert plant.certs("export", "esp-1", "--format", "device-bundle", "--out", empty).code == 0
    assert sorted(os.listdir(empty)) == BUNDLE_FILES
    r = plant.certs("--json", "export", "esp-1", "--format", "device-bundle", "--out", empty)
    err = json.loads(r.err.splitlines()[-1])
    assert (r.code, err["error"], err["exit_code"]) == (8, "invalid", 8)


def test_csr_signed_device_bundle_has_no_key_and_says_so(pki, tmp_path):
    assert pki.certs("csr", "plc-18", "--ip", "10.0.0.18", "--out", tmp_path / "csr", "--no-password").code == 0
    assert pki.certs("sign", tmp_path / "csr" / "plc-18.csr", "--device", "--ip", "10.0.0.18").code == 0
    r = pki.certs("export", "plc-18", "--format", "device-bundle", "--out", tmp_path / "b")
    assert r.code == 0, r.err
    assert "signed from a CSR" in r.err and "UNENCRYPTED" not in r.err
    assert sorted(os.listdir(tmp_path / "b")) == [f for f in BUNDLE_FILES if not f.startswith("key.")]
    assert "the key never left the device" in (tmp_path / "b" / "README.txt").read_text()
    r = pki.certs("--json", "export", "plc-18", "--format", "der-key", "--out", tmp_path / "k.der")
    err = json.loads(r.err.splitlines()[-1])
    assert (r.code, err["error"], err.get("cause")) == (1, "error", "store") and "signed from a CSR" in err["message"]
    assert not (tmp_path / "k.der").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_plain_key_is_never_printed_to_a_terminal(plant):
    from wsctl.cli.main import run
    from wsctl.cli.support.env import Environment

    env = Environment(stdout=_Terminal(), stderr=io.StringIO(), stdin=io.StringIO(), environ=dict(plant.environ))
    code = run(["certs", "--dir", str(plant.store_dir), "export", "esp-1", "--format", "pem-key"], env)
    assert code == 2 and env.stdout.getvalue() == ""
    assert "unencrypted private key; give --out FILE" in env.stderr.getvalue()
