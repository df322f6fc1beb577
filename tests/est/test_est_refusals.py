"""Bad EST requests: each refused with its HTTP status and one audit line, the store unchanged."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from est_helpers import audit_lines, curl, expire_codes, openssl_csr, pkcs7_certs, start_est, store_snapshot

from wsctl.registry.secret_hash import hash_secret


def assert_refused(plant, before, reply, status: int, operation: str = "simpleenroll", text: str = "") -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert text in reply.body.decode()
    last = audit_lines(plant)[-1]
    assert (last["action"], last["result"], last["status"]) == (f"est-{operation}", "error", status)
    assert last["error"] == reply.body.decode().strip()
    assert store_snapshot(plant) == before, "a refused request changed the store"
    return last


@pytest.fixture
def code(plant):
    secret, _ = plant.book.issue_code("plc-18", kind="device", ttl=3600, dns=["plc-18.plant.local"])
    return secret


async def test_a_csr_with_a_bad_signature_is_400(nursery, plant, code):
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-18")
    der = bytearray(base64.b64decode(csr.read_bytes()))
    der[-1] ^= 0x01  # the last byte of the signature
    csr.write_bytes(base64.b64encode(bytes(der)))
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")
    assert_refused(plant, before, reply, 400, text="bad signature")
    # the code was not spent on a refused request
    assert plant.book.check_code("plc-18", code)[1] == "ok"


async def test_a_csr_for_another_name_than_the_code_is_403(nursery, plant, code):
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-19")
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")
    line = assert_refused(plant, before, reply, 403, text="'plc-19'")
    assert line["subject"] == "device:plc-18" and line["user"] == "plc-18"
    assert plant.book.check_code("plc-18", code)[1] == "ok"


async def test_an_account_whose_name_is_not_a_certificate_name_is_403(nursery, plant):
    users = {"bad/name": hash_secret("a-long-enough-password")}
    server = await start_est(nursery, plant, "ops:kind=operator,auth=basic,role=observer", basic_users=users)
    csr, _ = await openssl_csr(plant.dir, None)
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", label="ops", data=csr, user="bad/name:a-long-enough-password")
    assert_refused(plant, before, reply, 403, text="not an allowed certificate name")


async def test_a_reused_code_is_401(nursery, plant, code):
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-18")
    assert (await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")).status == 200
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")
    assert_refused(plant, before, reply, 401, text="already used")
    assert reply.headers["www-authenticate"].startswith('Basic realm="wsctl EST default"')


async def test_an_expired_code_is_401(nursery, plant, code):
    expire_codes(plant)
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-18")
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")
    assert_refused(plant, before, reply, 401, text="expired")


async def test_a_wrong_code_and_no_credentials_are_401(nursery, plant, code):
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-18")
    before = store_snapshot(plant)
    wrong = await curl(server, plant, "simpleenroll", data=csr, user="plc-18:not-the-code-at-all")
    assert_refused(plant, before, wrong, 401, text="no valid enrollment code")
    bare = await curl(server, plant, "simpleenroll", data=csr)
    assert_refused(plant, before, bare, 401, text="needs HTTP Basic credentials")
    assert "www-authenticate" in bare.headers


async def test_a_code_issued_for_an_operator_does_not_enroll_a_device(nursery, plant):
    secret, _ = plant.book.issue_code("dave", kind="operator", ttl=3600, role="observer")
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "dave")
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"dave:{secret}")
    assert_refused(plant, before, reply, 403, text="operator certificate")


async def test_reenroll_with_a_revoked_certificate_is_403(nursery, plant, code):
    from est_helpers import PW

    server = await start_est(nursery, plant)
    csr, key = await openssl_csr(plant.dir, "plc-18")
    [cert] = await pkcs7_certs((await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}")).body)
    pem = plant.dir / "current.pem"
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    plant.store.revoke("plc-18", reason="key-compromise", password=PW)
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simplereenroll", data=csr, cert=pem, key=key)
    line = assert_refused(plant, before, reply, 403, "simplereenroll", text="revoked")
    assert line["subject"] == "device:plc-18"


async def test_reenroll_without_a_client_certificate_or_with_a_foreign_one_is_403(nursery, plant):
    chain, key = plant.bootstrap("cam-9")
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "cam-9")
    before = store_snapshot(plant)
    bare = await curl(server, plant, "simplereenroll", data=csr)
    assert_refused(plant, before, bare, 403, "simplereenroll", text="current certificate")
    foreign = await curl(server, plant, "simplereenroll", data=csr, cert=chain, key=key)
    assert_refused(plant, before, foreign, 403, "simplereenroll", text="not issued by this CA")


async def test_an_oversized_body_is_413_by_length_and_while_chunked(nursery, plant, code):
    from wsctl.net.est.server import Limits

    server = await start_est(nursery, plant, limits=Limits(max_body=4096))
    big = plant.dir / "big.b64"
    big.write_bytes(b"A" * 5000)
    before = store_snapshot(plant)
    by_length = await curl(server, plant, "simpleenroll", data=big, user=f"plc-18:{code}")
    assert_refused(plant, before, by_length, 413, text="at most 4096")
    chunked = await curl(
        server, plant, "simpleenroll", data=big, user=f"plc-18:{code}", extra=("-H", "Transfer-Encoding: chunked")
    )
    assert_refused(plant, before, chunked, 413, text="over 4096")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/pkcs7-mime", "text/plain"])
async def test_a_wrong_content_type_is_415(nursery, plant, code, content_type):
    server = await start_est(nursery, plant)
    csr, _ = await openssl_csr(plant.dir, "plc-18")
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{code}", content_type=content_type)
    assert_refused(plant, before, reply, 415, text="application/pkcs10")


async def test_a_body_that_is_not_base64_is_400(nursery, plant, code):
    server = await start_est(nursery, plant)
    junk = plant.dir / "junk.b64"
    junk.write_bytes(b"this is not base64 at all!")
    before = store_snapshot(plant)
    reply = await curl(server, plant, "simpleenroll", data=junk, user=f"plc-18:{code}")
    assert_refused(plant, before, reply, 400, text="not base64")


async def test_unknown_paths_labels_and_methods(nursery, plant):
    server = await start_est(nursery, plant, "device")
    assert (await curl(server, plant, "cacerts", label="operators")).status == 404
    assert (await curl(server, plant, "serverkeygen")).status == 404
    wrong_method = await curl(server, plant, "simpleenroll", extra=("-X", "GET"))
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
    assert (await curl(server, plant, "cacerts", extra=("-X", "POST"))).headers["allow"] == "GET"
