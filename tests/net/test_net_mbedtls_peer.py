"""Against a real mbedTLS 2.28 device (tests/net/peers/mbedtls_server.c, built
here with gcc against Debian's libmbedtls-dev): mbedTLS cannot use Ed25519
certificates, and a device refusing ours must read as a TLS failure about our
certificate, exit 4 and not retried, not as "connection reset" (issue 8, item 12).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trio
from mbedtls_peer import build_mbedtls_server

from wsctl.core.errors import HandshakeRejected, TLSError
from wsctl.net.api import open_device
from wsctl.net.reconnect import retryable
from wsctl.pki.store import Store

PW = b"pw"


@pytest.fixture(scope="module")
def mbedtls_server(tmp_path_factory) -> Path:
    return build_mbedtls_server(tmp_path_factory.mktemp("mbedtls"))


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("mbedtls-plant") / "certs")
    store.init(name="mbedTLS Plant CA", key_type="p256", password=PW)
    store.issue_device("esp-1", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    store.issue_operator("ed", role="engineer", days=30, password=PW, key_password=None, key_type="ed25519")
    store.issue_operator("ec", role="engineer", days=30, password=PW, key_password=None)
    return store


def _start(binary: Path, store: Store) -> tuple[subprocess.Popen, int]:
    device = store.leaf_paths("device", "esp-1")
    proc = subprocess.Popen(
        [str(binary), str(device.chain), str(device.key), str(store.root_cert_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("PORT "), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, int(line.split()[1])


async def _open(port: int, store: Store, operator: str):
    paths = store.leaf_paths("operator", operator)
    async with open_device(
        f"wss://127.0.0.1:{port}/", ca=store.root_cert_path, cert=paths.chain, key=paths.key, connect_timeout=5
    ):
        pass


async def test_mbedtls_device_refusing_an_ed25519_certificate_is_a_tls_failure(mbedtls_server, plant):
    proc, port = _start(mbedtls_server, plant)
    try:
        with trio.fail_after(15), pytest.raises(TLSError) as info:
            await _open(port, plant, "ed")
    finally:
        out, _ = proc.communicate(timeout=10)
    assert "HANDSHAKE -" in out  # the device's own verdict: a negative mbedTLS error code
    message = str(info.value)
    assert info.value.exit_code == 4 and not retryable(info.value)
    assert "EdDSA" in message and "mbedTLS" in message, message


async def test_mbedtls_device_accepts_a_p256_certificate(mbedtls_server, plant):
    """The same device and CA with an EC P-256 operator: TLS completes (the
    peer answers the upgrade with HTTP 404), so the refusal above is the key type."""
    proc, port = _start(mbedtls_server, plant)
    try:
        with trio.fail_after(15), pytest.raises(HandshakeRejected) as info:
            await _open(port, plant, "ec")
    finally:
        out, _ = proc.communicate(timeout=10)
    assert "HANDSHAKE 0" in out and info.value.status == 404
