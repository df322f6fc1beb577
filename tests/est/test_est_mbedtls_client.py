"""A second, independent EST client: an mbedTLS 2.28 program (tests/est/peers/) that
enrolls the way an ESP-IDF-class device would — its own key and CSR made by mbedTLS,
TLS by mbedTLS, HTTP written by hand.  Debian ships no EST client (no libest or
estclient package), so this stands in for one."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from est_helpers import audit_lines, pkcs7_certs, run, start_est
from mbedtls_peer import build_mbedtls_program

SOURCE = Path(__file__).parent / "peers" / "mbedtls_est_client.c"


@pytest.fixture(scope="module")
def est_client(tmp_path_factory) -> Path:
    return build_mbedtls_program(SOURCE, tmp_path_factory.mktemp("mbedtls"))


def _split(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_an_mbedtls_device_enrolls_with_a_code(nursery, plant, est_client):
    secret, _ = plant.book.issue_code("esp-3", kind="device", ttl=600, dns=["esp-3.plant.local"])
    server = await start_est(nursery, plant, "device:auth=code")
    key_out = plant.dir / "esp-3.key"
    path = "/.well-known/est/device/simpleenroll"
    result = await run(est_client, str(server.port), plant.ca_bundle, path, "esp-3", secret, key_out)
    status, body = _split(result.stdout)
    assert status == 200, result.stdout
    [cert] = await pkcs7_certs(body)
    device_key = load_pem_private_key(key_out.read_bytes(), None)
    assert cert.public_key() == device_key.public_key()
    assert plant.store.find("esp-3").serial == cert.serial_number
    assert audit_lines(plant, "est-simpleenroll")[-1]["result"] == "ok"


async def test_an_mbedtls_device_with_a_spent_code_is_refused(nursery, plant, est_client):
    secret, code = plant.book.issue_code("esp-4", kind="device", ttl=600, dns=["esp-4.plant.local"])
    plant.book.spend_code(code, by="test")
    server = await start_est(nursery, plant)
    result = await run(
        est_client, str(server.port), plant.ca_bundle, "/.well-known/est/simpleenroll", "esp-4", secret, plant.dir / "k"
    )
    status, body = _split(result.stdout)
    assert status == 401 and b"already used" in body
