"""Independent verifiers: openssl verify / pkcs12, and a real mutual-TLS handshake in Python's ssl."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from pki_helpers import CA_PASS, audit_lines

from wsctl.pki.export import export

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")


def openssl_verify(store, leaf, *extra):
    args = [
        OPENSSL,
        "verify",
        "-x509_strict",
        "-CAfile",
        str(store.root_cert_path),
        "-untrusted",
        str(store.issuing_cert_path),
        *extra,
        str(leaf),
    ]
    return subprocess.run(args, capture_output=True, text=True)


def test_openssl_verifies_chain_and_crl(store):
    dev = store.issue_device("plc", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    op = store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    for entry, purpose in ((dev, "sslserver"), (op, "sslclient")):
        out = openssl_verify(store, entry.paths.cert, "-purpose", purpose)
        assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), out.stdout + out.stderr
        out = openssl_verify(store, entry.paths.cert, "-crl_check", "-CRLfile", str(store.crl_pem_path))
        assert out.returncode == 0, out.stdout + out.stderr
    # the EKU is enforced: an operator certificate is not a server certificate
    # (a device certificate is both since issue 11: devices dial too)
    assert openssl_verify(store, op.paths.cert, "-purpose", "sslserver").returncode != 0
    out = openssl_verify(store, dev.paths.cert, "-verify_ip", "10.0.0.1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert openssl_verify(store, dev.paths.cert, "-verify_ip", "10.0.0.2").returncode != 0

    store.revoke("alice", reason="key-compromise", password=CA_PASS)
    assert openssl_verify(store, op.paths.cert).returncode == 0  # without a CRL: still chains
    out = openssl_verify(store, op.paths.cert, "-crl_check", "-CRLfile", str(store.crl_pem_path))
    assert out.returncode != 0 and "certificate revoked" in out.stdout + out.stderr
    # crl.der is the same CRL as crl.pem, for devices that only load DER
    der_text = subprocess.run(
        [OPENSSL, "crl", "-inform", "DER", "-in", str(store.crl_der_path), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pem_text = subprocess.run(
        [OPENSSL, "crl", "-in", str(store.crl_pem_path), "-noout", "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert der_text == pem_text and format(op.serial, "X") in der_text.replace(":", "").upper()


@pytest.mark.parametrize("legacy, needle", [(False, "AES-256-CBC"), (True, "TripleDES")])
def test_pkcs12_export_readable_by_openssl(store, tmp_path, legacy, needle):
    store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=b"leaf-pass")
    data = export(store, "alice", "p12", p12_password=b"export-pass", key_password=b"leaf-pass", legacy=legacy)
    path = tmp_path / "alice.p12"
    path.write_bytes(data)
    out = subprocess.run(
        [OPENSSL, "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "pass:export-pass"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert needle in out.stderr + out.stdout
    assert [a["action"] for a in audit_lines(store)][-1] == "export"
    assert "Shrouded Keybag" in out.stderr + out.stdout
    bad = subprocess.run(
        [OPENSSL, "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "pass:wrong"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    keyless = subprocess.run(
        [OPENSSL, "pkcs12", "-in", str(path), "-passin", "pass:export-pass", "-nokeys"], capture_output=True, text=True
    )
    assert keyless.stdout.count("BEGIN CERTIFICATE") == 3  # leaf, issuing, root


def _contexts(store, dev, op, *, crl: bool):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1_2
    server.load_cert_chain(str(dev.paths.chain), str(dev.paths.key), password=b"dev-key-pass")
    server.load_verify_locations(cafile=str(store.root_cert_path))
    server.verify_mode = ssl.CERT_REQUIRED
    server.verify_flags |= ssl.VERIFY_X509_STRICT
    if crl:
        server.load_verify_locations(cafile=str(store.crl_pem_path))
        server.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_cert_chain(str(op.paths.chain), str(op.paths.key))
    client.load_verify_locations(cafile=str(store.root_cert_path))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    return server, client


def _handshake(server_ctx, client_ctx, server_hostname):
    """Run both ends over a socketpair; return (server error, client error, peer DER seen by the server)."""
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    result: dict = {}

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                result["peer"] = s.getpeercert(binary_form=True)
                s.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            result["server"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            result["reply"] = c.recv(2)  # TLS 1.3 reports a refused client certificate only here
    except (ssl.SSLError, OSError) as exc:
        result["client"] = exc
    thread.join(10)
    a.close()
    b.close()
    return result


def test_mutual_tls_handshake_strict_and_crl(store):
    from wsctl.pki.identity import peer_identity

    dev = store.issue_device(
        "plc", dns=["plc.plant.local"], ips=["127.0.0.1"], password=CA_PASS, key_password=b"dev-key-pass"
    )
    op = store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    for hostname in ("127.0.0.1", "plc.plant.local"):
        result = _handshake(*_contexts(store, dev, op, crl=True), hostname)
        assert result.get("reply") == b"ok", result
        ident = peer_identity(result["peer"])
        assert (ident.kind, ident.name, ident.role) == ("operator", "alice", "engineer")

    wrong_host = _handshake(*_contexts(store, dev, op, crl=False), "other.plant.local")
    assert "client" in wrong_host and "hostname" in str(wrong_host["client"]).lower()

    # a device certificate is a client certificate too (devices dial, issue 11),
    # but it names a device without a role: it can never run operator commands
    server, client = _contexts(store, dev, op, crl=False)
    client.load_cert_chain(str(dev.paths.chain), str(dev.paths.key), password=b"dev-key-pass")
    dialed = _handshake(server, client, "127.0.0.1")
    assert dialed.get("reply") == b"ok", dialed
    ident = peer_identity(dialed["peer"])
    assert (ident.kind, ident.name, ident.role) == ("device", "plc", None)
    # an operator certificate cannot pose as a device (no serverAuth), even from the same CA
    server, client = _contexts(store, dev, op, crl=False)
    server.load_cert_chain(str(op.paths.chain), str(op.paths.key))
    refused = _handshake(server, client, "127.0.0.1")
    assert "reply" not in refused and "unsuitable certificate purpose" in str(refused.get("client")), refused

    store.revoke("alice", password=CA_PASS)
    revoked = _handshake(*_contexts(store, dev, op, crl=True), "127.0.0.1")
    assert "reply" not in revoked
    assert "certificate revoked" in str(revoked.get("server")), revoked
    # without the CRL the same handshake succeeds: the refusal above is the CRL's doing
    assert _handshake(*_contexts(store, dev, op, crl=False), "127.0.0.1").get("reply") == b"ok"


@pytest.mark.parametrize("key_type", ["rsa2048", "p384", "ed25519"])
def test_other_key_types_pass_strict_verification(tmp_path, key_type):
    from wsctl.pki.store import Store

    store = Store(tmp_path / "certs")
    store.init(password=CA_PASS, key_type=key_type)
    dev = store.issue_device("plc", ips=["127.0.0.1"], key_type="p256", password=CA_PASS, key_password=b"dev-key-pass")
    op = store.issue_operator("alice", role="observer", password=CA_PASS, key_password=None)
    assert openssl_verify(store, dev.paths.cert).returncode == 0
    assert _handshake(*_contexts(store, dev, op, crl=True), "127.0.0.1").get("reply") == b"ok"
