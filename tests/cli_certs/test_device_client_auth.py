"""Device certificates are TLS client certificates too (issue 11): a charger
dials its central system with the certificate `certs issue device` (or `certs
sign --device`) gave it; before, it carried serverAuth only and every verifier
refused it ("unsuitable certificate purpose").  A device certificate still names
no role, so as a client it can never run operator commands."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from wsctl.net.tls import client_context, server_context
from wsctl.pki import builder
from wsctl.pki.identity import peer_identity


def _openssl_verify(store_dir, cert, purpose: str) -> subprocess.CompletedProcess:
    args = ["openssl", "verify", "-x509_strict", "-purpose", purpose]
    args += ["-CAfile", str(store_dir / "ca/root.crt"), "-untrusted", str(store_dir / "ca/issuing.crt"), str(cert)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _ekus(path) -> list:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_issued_and_signed_device_certificates_verify_as_client_and_server(pki, tmp_path):
    assert pki.certs("issue", "device", "CP-17", "--ip", "127.0.0.1", "--no-password").code == 0
    r = pki.certs("csr", "CP-18", "--ip", "10.0.0.18", "--out", tmp_path / "csr", "--no-password")
    assert r.code == 0, r.err
    assert pki.certs("sign", tmp_path / "csr/CP-18.csr", "--device", "--ip", "10.0.0.18").code == 0
    for name in ("CP-17", "CP-18"):
        cert = pki.store_dir / "devices" / name / "cert.pem"
        for purpose in ("sslclient", "sslserver"):
            out = _openssl_verify(pki.store_dir, cert, purpose)
            assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), (name, purpose, out.stderr)


def test_renew_gives_an_old_server_only_device_certificate_client_auth(pki, monkeypatch):
    # what `certs issue device` wrote before issue 11
    with monkeypatch.context() as old_wsctl:
        old_wsctl.setitem(builder.LEAF_EKUS, "device", (ExtendedKeyUsageOID.SERVER_AUTH,))
        assert pki.certs("issue", "device", "CP-3", "--ip", "127.0.0.1", "--no-password").code == 0
    cert = pki.store_dir / "devices/CP-3/cert.pem"
    assert _ekus(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _openssl_verify(pki.store_dir, cert, "sslclient").returncode != 0
    r = pki.certs("renew", "CP-3")
    assert r.code == 0, r.err
    assert _ekus(cert) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _openssl_verify(pki.store_dir, cert, "sslclient").returncode == 0


def test_a_server_requiring_client_certificates_accepts_a_device_without_a_role(pki):
    assert pki.certs("issue", "device", "hub", "--ip", "127.0.0.1", "--no-password").code == 0
    assert pki.certs("issue", "device", "CP-17", "--ip", "10.0.0.17", "--no-password").code == 0
    store = pki.store_dir
    cas = [store / "ca/root.crt", store / "ca/issuing.crt"]
    server = server_context(
        cert_chain=store / "devices/hub/chain.pem",
        key=store / "devices/hub/key.pem",
        ca=cas,
        crl=store / "ca/crl.pem",
        client_auth="required",
    )
    client = client_context(ca=cas, cert=store / "devices/CP-17/chain.pem", key=store / "devices/CP-17/key.pem")
    seen: dict = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def accept() -> None:
            try:
                sock, _ = listener.accept()
                sock.settimeout(10)
                with server.wrap_socket(sock, server_side=True) as tls:
                    seen["peer"] = tls.getpeercert(binary_form=True)
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                seen["error"] = exc

        thread = threading.Thread(target=accept)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.recv(2) == b"ok"
        thread.join(10)
    assert "error" not in seen, seen
    ident = peer_identity(seen["peer"])
    assert (ident.kind, ident.name, ident.role) == ("device", "CP-17", None)


def test_verify_purpose_operator_refuses_a_device_certificate(pki):
    assert pki.certs("issue", "device", "CP-17", "--ip", "127.0.0.1", "--no-password").code == 0
    r = pki.certs("verify", "CP-17", "--purpose", "operator")
    assert r.code == 4 and "carries no role" in r.one_error_line()
    assert pki.certs("verify", "CP-17", "--purpose", "device").code == 0
