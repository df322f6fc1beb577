"""What docs/enrollment.md says of an expired client certificate on EST: the TLS
handshake itself fails ("certificate expired"), before any HTTP, so there is no 403
and no audit line.  A plant device enrolls anew with a code, without that
certificate, which supersedes the expired one."""

from __future__ import annotations

import datetime as dt

import trio
from est_helpers import PW, audit_lines, curl, openssl_csr, pkcs7_certs, run, start_est

from wsctl.pki import builder


def issued_in_the_past(monkeypatch, store, name: str):
    """A device certificate made by STORE three days ago for one day: expired two days ago."""
    past = builder.now() - dt.timedelta(days=3)
    with monkeypatch.context() as m:
        m.setattr(builder, "now", lambda: past)
        entry = store.issue_device(name, dns=[f"{name}.example"], days=1, password=PW, key_password=None)
    assert store.find(name).effective_status() == "expired"
    return entry.paths.chain, entry.paths.key


async def curl_with(server, plant, operation: str, chain, key, csr):
    url = f"https://127.0.0.1:{server.port}/.well-known/est/{operation}"
    return await run(
        "curl", "-sS", "--cacert", plant.ca_bundle, "--cert", chain, "--key", key,
        "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{csr}", url, check=False,
    )  # fmt: skip


async def tls_failed(access: list) -> None:
    with trio.fail_after(10):
        while not any(rec.outcome == "tls-failed" and "expired" in rec.error for rec in access):
            await trio.sleep(0.01)


async def test_an_expired_plant_certificate_fails_the_handshake(nursery, plant, monkeypatch):
    chain, key = issued_in_the_past(monkeypatch, plant.store, "plc-7")
    access: list = []
    server = await start_est(nursery, plant, access=access)
    csr, _ = await openssl_csr(plant.dir, "plc-7")
    refused = await curl_with(server, plant, "simplereenroll", chain, key, csr)
    assert refused.returncode != 0
    assert "certificate expired" in refused.stderr.decode()
    await tls_failed(access)
    assert audit_lines(plant) == []

    # the way back docs/enrollment.md gives: a code enrolls anew; the expired one is superseded
    expired = plant.store.find("plc-7").serial
    secret, _ = plant.book.issue_code("plc-7", kind="device", ttl=600, dns=["plc-7.plant.local"])
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-7:{secret}")
    assert reply.status == 200, reply.body
    [cert] = await pkcs7_certs(reply.body)
    assert plant.store.find("plc-7").serial == cert.serial_number
    old = plant.store.load_index().by_serial(expired)
    assert old.status == "superseded" and old.superseded_by == cert.serial_number


async def test_an_expired_bootstrap_certificate_fails_the_handshake_too(nursery, plant, monkeypatch):
    chain, key = issued_in_the_past(monkeypatch, plant.vendor, "cam-3")
    access: list = []
    server = await start_est(nursery, plant, "device:auth=bootstrap,domain=plant.local", access=access)
    csr, _ = await openssl_csr(plant.dir, "cam-3")
    refused = await curl_with(server, plant, "simpleenroll", chain, key, csr)
    assert refused.returncode != 0
    assert "certificate expired" in refused.stderr.decode()
    await tls_failed(access)
    assert audit_lines(plant) == []
