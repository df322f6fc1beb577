"""A device refusing our client certificate, or a server whose CRL ran out:
each is told as what it is (issue 8, items 4 and 12).

Certificates that the store rightly cannot make (a look-alike issuer, one not
valid yet, a CRL that expires in two seconds) are built here with
`cryptography` from the store's own issuing key.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from net_helpers import PW

from wsctl.core.errors import TLSError
from wsctl.net.api import open_device
from wsctl.net.tls import CrlReloader
from wsctl.pki import keys


def _issuing(pki):
    cert = x509.load_pem_x509_certificate(pki.store.issuing_cert_path.read_bytes())
    key = keys.load_private_key(pki.store.issuing_key_path.read_bytes(), PW, source=pki.store.issuing_key_path)
    return cert, key


def _operator(pki, tmp_path, name: str, *, signer=None, not_before=None):
    """chain.pem + key.pem of an operator certificate; ``signer`` other than the issuing key fakes the issuer."""
    issuing, issuing_key = _issuing(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuing.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer or issuing_key, hashes.SHA256())
    )
    chain = tmp_path / f"{name}-chain.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + issuing.public_bytes(serialization.Encoding.PEM))
    key_path = tmp_path / f"{name}-key.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_path


async def _refusal(url, pki, chain, key) -> str:
    with trio.fail_after(10), pytest.raises(TLSError) as info:
        async with open_device(url, ca=pki.root, cert=chain, key=key, connect_timeout=5) as dev:
            await dev.receive(timeout=5)
    return str(info.value)


async def test_look_alike_issuer_is_not_called_a_key_mismatch(start_server, pki, tmp_path):
    server = await start_server()
    chain, key = _operator(pki, tmp_path, "spoof", signer=ec.generate_private_key(ec.SECP256R1()))
    message = await _refusal(server.url, pki, chain, key)
    assert "does not match" not in message
    assert "signature" in message and "look-alike" in message


async def test_not_yet_valid_client_certificate_says_so(start_server, pki, tmp_path):
    server = await start_server()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    chain, key = _operator(pki, tmp_path, "early", not_before=later)
    message = await _refusal(server.url, pki, chain, key)
    assert "not valid until" in message and "clocks" in message


def _short_crl(pki, tmp_path, seconds: float):
    """The store's CRL (same revocations) re-signed with nextUpdate `seconds` from now."""
    issuing, issuing_key = _issuing(pki)
    current = x509.load_pem_x509_crl(pki.crl.read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuing.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(seconds=seconds))
    )
    for revoked in current:
        builder = builder.add_revoked_certificate(revoked)
    path = tmp_path / "short.crl.pem"
    path.write_bytes(builder.sign(issuing_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


async def test_expired_crl_is_named_on_both_sides(start_server, pki, tmp_path, caplog):
    crl = _short_crl(pki, tmp_path, 2.0)
    records = []
    with caplog.at_level(logging.WARNING, logger="wsctl.net.tls"):
        server = await start_server(crl=crl, access_log=records.append)
    assert any("expires at" in r.getMessage() and "wsctl certs crl" in r.getMessage() for r in caplog.records)
    await trio.sleep(3.0)  # let the CRL's nextUpdate pass while the server runs
    message = await _refusal(server.url, pki, pki.alice.chain, pki.alice.key)
    assert "CRL" in message and "expired" in message
    with trio.fail_after(5):
        while not records:
            await trio.sleep(0.01)
    assert records[0].outcome == "tls-failed" and "CRL has expired" in records[0].error
    assert any("expired at" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_crl_reloader_warns_a_day_ahead_and_once_when_expired(pki, tmp_path, caplog):
    crl = _short_crl(pki, tmp_path, 3600 * 5)
    clock = [dt.datetime.now(dt.UTC)]
    with caplog.at_level(logging.WARNING, logger="wsctl.net.tls"):
        reloader = CrlReloader(crl, build=lambda: None, now=lambda: clock[0])
        assert "in 5.0 h" in reloader.check_expiry()
        clock[0] += dt.timedelta(hours=6)
        assert "every client is refused" in reloader.check_expiry()
        assert reloader.check_expiry() is None  # said once, not per connection
    far = _short_crl(pki, tmp_path, 3600 * 24 * 20)
    assert CrlReloader(far, build=lambda: None).check_expiry() is None
