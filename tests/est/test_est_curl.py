"""EST with the clients of RFC 7030's examples: curl for HTTP over TLS, openssl for the
PKCS#10 request (DER, base64) and the PKCS#7 answer (`openssl pkcs7 -print_certs`)."""

from __future__ import annotations

import ipaddress
import json

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from est_helpers import PW, audit_lines, curl, openssl_csr, pkcs7_certs, run, start_est

from wsctl.pki.identity import identity_of
from wsctl.registry.secret_hash import hash_secret


def _sans(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v.value) for v in san]


async def test_cacerts_is_a_base64_certs_only_pkcs7_of_issuing_and_root(nursery, plant):
    server = await start_est(nursery, plant)
    reply = await curl(server, plant, "cacerts")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/pkcs7-mime; smime-type=certs-only"
    assert reply.headers["content-transfer-encoding"] == "base64"
    certs = await pkcs7_certs(reply.body)
    assert set(certs) == {plant.store.issuing_cert(), plant.store.root_cert()}  # a SET OF: DER orders it


async def test_csrattrs_asks_for_a_p256_key_signed_with_ecdsa_sha256(nursery, plant):
    server = await start_est(nursery, plant)
    reply = await curl(server, plant, "csrattrs", label="default")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/csrattrs"
    der = (await run("openssl", "base64", "-d", stdin=reply.body)).stdout
    parsed = (await run("openssl", "asn1parse", "-inform", "DER", stdin=der)).stdout.decode()
    assert "ecdsa-with-SHA256" in parsed and "id-ecPublicKey" in parsed and "prime256v1" in parsed


async def test_enrollment_code_over_basic_auth_certifies_only_the_approved_names(nursery, plant):
    secret, _ = plant.book.issue_code("plc-18", kind="device", ttl=3600, dns=["plc-18.plant.local"], ips=["10.0.0.18"])
    server = await start_est(nursery, plant)
    # the CSR asks for a CA certificate, another name and code signing: all ignored
    csr, _ = await openssl_csr(
        plant.dir,
        "plc-18",
        addext=("basicConstraints=critical,CA:TRUE", "subjectAltName=DNS:evil.example", "extendedKeyUsage=codeSigning"),
    )
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{secret}")
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/pkcs7-mime; smime-type=certs-only"
    [cert] = await pkcs7_certs(reply.body)
    assert _sans(cert) == ["plc-18.plant.local", str(ipaddress.ip_address("10.0.0.18")), "urn:wsctl:device:plc-18"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ekus = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    pem = plant.dir / "plc-18.pem"
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    await run(
        "openssl",
        "verify",
        "-x509_strict",
        "-CAfile",
        plant.store.root_cert_path,
        "-untrusted",
        plant.store.issuing_cert_path,
        pem,
    )
    entry = plant.store.find("plc-18")
    assert entry.serial == cert.serial_number and entry.status == "valid" and not entry.has_key
    [line] = audit_lines(plant, "est-simpleenroll")
    assert line["result"] == "ok" and line["status"] == 200 and line["subject"] == "device:plc-18"
    assert secret not in plant.store.audit_path.read_text()


async def test_bootstrap_certificate_enrolls_with_the_labels_domain(nursery, plant):
    chain, key = plant.bootstrap("cam-7")
    server = await start_est(nursery, plant, "cameras:auth=bootstrap,domain=plant.local")
    csr, _ = await openssl_csr(plant.dir, "cam-7")
    reply = await curl(server, plant, "simpleenroll", label="cameras", data=csr, cert=chain, key=key)
    assert reply.status == 200, reply.body
    [cert] = await pkcs7_certs(reply.body)
    assert _sans(cert) == ["cam-7.plant.local", "urn:wsctl:device:cam-7"]
    assert cert.issuer == plant.store.issuing_cert().subject


async def test_basic_account_waits_for_approval_then_gets_its_certificate(nursery, plant):
    from cli_runner import run_in_process

    users = {"carol": hash_secret("carol-password-0123")}
    server = await start_est(
        nursery, plant, "operator:kind=operator,auth=basic,role=engineer,approve", basic_users=users
    )
    csr, _ = await openssl_csr(plant.dir, "carol")
    first = await curl(server, plant, "simpleenroll", label="operator", data=csr, user="carol:carol-password-0123")
    assert first.status == 202 and first.headers["retry-after"] == "7"
    again = await curl(server, plant, "simpleenroll", label="operator", data=csr, user="carol:carol-password-0123")
    assert again.status == 202
    environ = {"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)}
    # the CLI verbs are synchronous and need not the server meanwhile: run them in this thread
    listed = run_in_process("--json", "certs", "pending", environ=environ)
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["name"] == "carol" and row["role"] == "engineer" and row["status"] == "pending"
    approved = run_in_process("certs", "approve", row["id"], environ=environ)
    assert approved.returncode == 0, approved.stderr
    done = await curl(server, plant, "simpleenroll", label="operator", data=csr, user="carol:carol-password-0123")
    assert done.status == 200
    [cert] = await pkcs7_certs(done.body)
    ident = identity_of(cert)
    assert (ident.kind, ident.name, ident.role) == ("operator", "carol", "engineer")
    results = [line["result"] for line in audit_lines(plant, "est-simpleenroll")]
    assert results == ["pending", "pending", "ok"]


async def test_reenroll_with_the_current_certificate_keeps_the_identity(nursery, plant):
    secret, _ = plant.book.issue_code("plc-18", kind="device", ttl=3600, dns=["plc-18.plant.local"])
    server = await start_est(nursery, plant)
    csr, key = await openssl_csr(plant.dir, "plc-18")
    reply = await curl(server, plant, "simpleenroll", data=csr, user=f"plc-18:{secret}")
    [first] = await pkcs7_certs(reply.body)
    cert_pem = plant.dir / "current.pem"
    cert_pem.write_bytes(first.public_bytes(Encoding.PEM))
    new_key = plant.dir / "new.key"
    await run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", new_key)
    # a rekey: the CSR carries a new key and no CN; names come from the current certificate
    csr2, _ = await openssl_csr(plant.dir, None, key=new_key)
    renewed = await curl(server, plant, "simplereenroll", data=csr2, cert=cert_pem, key=key)
    assert renewed.status == 200, renewed.body
    [second] = await pkcs7_certs(renewed.body)
    assert _sans(second) == _sans(first) and second.serial_number != first.serial_number
    assert second.subject == first.subject and second.public_key() != first.public_key()
    old = plant.store.load_index().by_serial(first.serial_number)
    assert old.status == "superseded" and old.superseded_by == second.serial_number
    assert [r["action"] for r in audit_lines(plant, "")][-2:] == ["renew", "est-simplereenroll"]
