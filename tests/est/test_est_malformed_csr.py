"""A CSR whose subject or extension request does not parse (signature valid) is a 400
with one audit line over EST, for a first enrollment and a re-enrollment alike; not a
500, and the code is not spent.  A waiting one stored before that check still lists."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cli_runner import run_in_process
from cryptography.hazmat.primitives.serialization import Encoding
from csr_crafting import bad_cn_csr, bad_san_csr
from est_helpers import PW, audit_lines, curl, openssl_csr, pkcs7_certs, start_est, store_snapshot

CRAFTED = {"subject": (bad_cn_csr, "malformed subject"), "extension": (bad_san_csr, "malformed extension request")}


def write_b64(plant, der: bytes):
    path = plant.dir / "crafted.csr.b64"
    path.write_bytes(base64.b64encode(der) + b"\n")
    return path


def assert_400(plant, before, reply, operation: str, words: str) -> None:
    assert reply.status == 400, reply.body
    assert words in reply.body.decode()
    last = audit_lines(plant)[-1]
    assert (last["action"], last["result"], last["status"]) == (f"est-{operation}", "error", 400)
    assert store_snapshot(plant) == before


@pytest.mark.parametrize("part", CRAFTED)
async def test_a_first_enrollment_with_it_is_400_and_keeps_the_code(nursery, plant, part):
    craft, words = CRAFTED[part]
    secret, _ = plant.book.issue_code("plc-1", kind="device", ttl=3600, dns=["plc-1.plant.local"])
    server = await start_est(nursery, plant)
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=write_b64(plant, craft("plc-1")), user=f"plc-1:{secret}")
    assert_400(plant, before, reply, "simpleenroll", words)
    assert plant.book.check_code("plc-1", secret)[1] == "ok"


@pytest.mark.parametrize("part", CRAFTED)
async def test_a_reenrollment_with_it_is_400(nursery, plant, part):
    craft, words = CRAFTED[part]
    secret, _ = plant.book.issue_code("plc-1", kind="device", ttl=3600, dns=["plc-1.plant.local"])
    server = await start_est(nursery, plant)
    csr, key = await openssl_csr(plant.dir, "plc-1")
    [cert] = await pkcs7_certs((await curl(server, plant, "simpleenroll", data=csr, user=f"plc-1:{secret}")).body)
    current = plant.dir / "current.pem"
    current.write_bytes(cert.public_bytes(Encoding.PEM))
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simplereenroll", data=write_b64(plant, craft("plc-1")), cert=current, key=key)
    assert_400(plant, before, reply, "simplereenroll", words)
    assert plant.store.find("plc-1").serial == cert.serial_number


def test_a_waiting_csr_stored_before_the_check_is_still_listed_and_can_be_rejected(plant):
    """An enroll.db row whose CSR (accepted by an earlier version) has a malformed SAN."""
    der = bad_san_csr("cam-1")
    waiting = plant.book.add_pending(
        label="default", kind="device", name="cam-1", auth="basic cam-1", client="192.0.2.1:1",
        csr=der, csr_sha256=hashlib.sha256(der).hexdigest(), dns=(), role=None, days=30,
    )  # fmt: skip
    environ = {"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)}
    listed = run_in_process("--json", "certs", "pending", environ=environ)
    assert listed.returncode == 0, listed.stderr
    assert waiting.id in listed.stdout and '"csr_asks_for": []' in listed.stdout
    rejected = run_in_process("certs", "approve", waiting.id, "--reject", environ=environ)
    assert rejected.returncode == 0, rejected.stderr
