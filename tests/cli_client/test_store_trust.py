"""What `--certs DIR` trusts and checks, on both sides (issue 8, items 1 and 3).

Foreign peers: openssl s_server and python-websockets loaded with only the
device's own certificate (what `wsctl certs export` hands a device), so the
chain the client must build is leaf -> issuing CA (from the store) -> root.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from client_helpers import PASSWORD, WebsocketsDevice, device_context, start_server, wsctl


def _device_files(plant):
    dev = plant.certs / "devices" / "dev"
    return dev / "cert.pem", dev / "key.pem"


@pytest.fixture
def leaf_only_websockets_device(plant):
    """A python-websockets echo device whose TLS sends the leaf and nothing else."""

    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    with WebsocketsDevice(handler, device_context(plant, leaf_only=True, client_auth=False)) as port:
        yield f"wss://127.0.0.1:{port}/"


def test_leaf_only_device_is_verified_through_the_store(plant, leaf_only_websockets_device):
    out = wsctl("send", leaf_only_websockets_device, "--raw", "ping-1", *plant.op("alice"))
    assert out.returncode == 0, out.stderr
    assert "ping-1" in out.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_leaf_only_openssl_s_server_passes_tls(plant, tmp_path):
    """openssl s_server with -cert leaf: TLS verifies; the HTTP 200 of -www is
    then refused as an upgrade answer (exit 5), which proves TLS got through."""
    cert, key = _device_files(plant)
    proc = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-pass",
            f"pass:{PASSWORD}",
            "-www",
            "-naccept",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = None
        for _ in range(50):
            line = proc.stdout.readline()
            if line.startswith("ACCEPT") and ":" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, "openssl s_server did not say where it listens"
        out = wsctl("send", f"wss://127.0.0.1:{port}/", "--raw", "x", *plant.op("bob"), "--connect-timeout", "5")
        assert out.returncode == 5, out.stderr
        assert "unknown CA" not in out.stderr and "HTTP 200" in out.stderr
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_issuing_ca_alone_is_not_a_trust_anchor(plant, leaf_only_websockets_device, tmp_path):
    """Loading the issuing CA only builds the path: with the root missing from
    the bundle, the device is refused."""
    only_issuing = tmp_path / "issuing-only.pem"
    only_issuing.write_bytes((plant.certs / "ca" / "issuing.crt").read_bytes())
    out = wsctl(
        "send",
        leaf_only_websockets_device,
        "--raw",
        "x",
        "--ca",
        str(only_issuing),
        "--cert",
        str(plant.certs / "operators" / "bob" / "chain.pem"),
        "--key",
        str(plant.certs / "operators" / "bob" / "key.pem"),
    )
    assert out.returncode == 4, out.stderr


def _store_copy(plant, tmp_path):
    copy = tmp_path / "certs"
    shutil.copytree(plant.certs, copy)
    return copy


def test_serve_refuses_a_store_without_crl(plant, tmp_path):
    certs = _store_copy(plant, tmp_path)
    (certs / "ca" / "crl.pem").unlink()
    (certs / "ca" / "crl.der").unlink()
    out = wsctl("serve", "--echo", "--certs", str(certs), "--device", "dev", "--listen", "127.0.0.1:0", timeout=30)
    assert out.returncode == 8, out.stderr
    assert "crl.pem" in out.stderr and "wsctl certs" in out.stderr and " crl" in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) <= 2


def test_record_listen_refuses_a_store_without_crl(plant, tmp_path, echo_server):
    certs = _store_copy(plant, tmp_path)
    (certs / "ca" / "crl.pem").unlink()
    (certs / "ca" / "crl.der").unlink()
    out = wsctl(
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        echo_server.url,
        "-o",
        str(tmp_path / "r.jsonl"),
        "--certs",
        str(certs),
        "--device",
        "dev",
        "--operator",
        "alice",
        timeout=30,
    )
    assert out.returncode == 8, out.stderr
    assert "crl" in out.stderr


def test_serve_uses_the_der_crl_when_the_pem_one_is_gone(plant, tmp_path):
    """crl.der alone still means revocation on: the revoked operator is refused."""
    certs = _store_copy(plant, tmp_path)
    (certs / "ca" / "crl.pem").unlink()
    server = start_server("--echo", "--certs", str(certs), "--device", "dev")
    try:
        ok = wsctl("send", server.url, "--raw", "hi", "--certs", str(certs), "--operator", "alice")
        assert ok.returncode == 0, ok.stderr
        revoked = wsctl("send", server.url, "--raw", "hi", "--certs", str(certs), "--operator", "mallory")
        assert revoked.returncode == 4, revoked.stderr
        assert "revoked" in revoked.stderr
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)


def _stop(server):
    server.proc.kill()
    server.proc.wait(timeout=10)
    return server.proc.stderr.read()


@pytest.mark.parametrize("ca", ["root.crt", "bundle"])
def test_serve_with_certs_and_the_stores_own_ca_still_checks_the_crl(plant, tmp_path, ca):
    """`--ca` naming the store's CA (its root, or a bundle of root and issuing
    CA as `certs export` gives) is the store's CA: its CRL is checked too."""
    if ca == "bundle":
        path = tmp_path / "bundle.pem"
        path.write_bytes(
            (plant.certs / "ca" / "issuing.crt").read_bytes() + (plant.certs / "ca" / "root.crt").read_bytes()
        )
    else:
        path = plant.certs / "ca" / "root.crt"
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--ca", str(path))
    try:
        ok = wsctl("send", server.url, "--raw", "hi", *plant.op("alice"))
        assert ok.returncode == 0, ok.stderr
        revoked = wsctl("send", server.url, "--raw", "hi", *plant.op("mallory"))
        assert revoked.returncode == 4, revoked.stderr
        assert "revoked" in revoked.stderr
    finally:
        stderr = _stop(server)
    assert "revocation" not in stderr


def test_serve_says_when_client_certificates_are_not_checked_for_revocation(plant, tmp_path):
    """A CA of its own (not the store's) and no --crl: client certificates are
    verified, revocation is not, and the server says so once at start."""
    cert, key = _device_files(plant)
    other = tmp_path / "other-ca.pem"
    other.write_bytes((plant.certs / "ca" / "root.crt").read_bytes())
    server = start_server(
        "--echo", "--cert", str(plant.certs / "devices" / "dev" / "chain.pem"), "--key", str(key), "--ca", str(other)
    )
    try:
        ok = wsctl("send", server.url, "--raw", "hi", *plant.op("alice"))
        assert ok.returncode == 0, ok.stderr
    finally:
        stderr = _stop(server)
    warnings = [json.loads(line) for line in stderr.splitlines() if "revocation" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning", stderr
    assert "--crl" in warnings[0]["message"]


def test_a_client_says_when_its_store_has_no_crl(plant, tmp_path):
    certs = _store_copy(plant, tmp_path)
    (certs / "ca" / "crl.pem").unlink()
    (certs / "ca" / "crl.der").unlink()
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    try:
        out = wsctl("send", server.url, "--raw", "hi", "--certs", str(certs), "--operator", "alice")
        assert out.returncode == 0, out.stderr
        assert "hi" in out.stdout
        assert out.stderr.count("not checked for revocation") == 1, out.stderr
        assert "--crl" in out.stderr
        with_crl = wsctl("send", server.url, "--raw", "hi", *plant.op("alice"))
        assert "revocation" not in with_crl.stderr
    finally:
        _stop(server)
