"""peer_identity, fingerprints, describe and verify_leaf."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pki_helpers import CA_PASS

from wsctl.core.errors import InvalidInput, TLSError
from wsctl.core.exit_table import ExitCode
from wsctl.pki.identity import Identity, fingerprint, peer_identity
from wsctl.pki.inspect import CertificateRejected, describe, verify_leaf
from wsctl.pki.names import check_dns, host_matches


def der_of(path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)


def test_peer_identity_of_operator_and_device(store):
    op = store.issue_operator("alice", role="security-admin", password=CA_PASS, key_password=None)
    ident = peer_identity(der_of(op.paths.cert))
    assert isinstance(ident, Identity)
    assert (ident.kind, ident.name, ident.role, ident.uri) == (
        "operator",
        "alice",
        "security-admin",
        "urn:wsctl:operator:alice",
    )
    assert ident.common_name == "alice" and ident.serial == op.serial and ident.fingerprint == op.fingerprint
    assert ident.subject == "CN=alice,OU=security-admin,O=Test Plant"
    assert ident.not_after == op.not_after
    dev = store.issue_device("plc", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    ident = peer_identity(der_of(dev.paths.cert))
    assert (ident.kind, ident.name, ident.role) == ("device", "plc", None)
    with pytest.raises(InvalidInput):
        peer_identity(b"\x30\x03junk")


def test_identity_of_a_foreign_certificate_has_no_kind(store):
    ident = peer_identity(der_of(store.root_cert_path))
    assert ident.kind is None and ident.name is None and ident.role is None and ident.uri is None


def test_fingerprint_form():
    assert fingerprint(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert fingerprint(b"abc").islower()


def test_describe(store):
    dev = store.issue_device("plc", dns=["plc.local"], ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    from cryptography import x509

    info = describe(x509.load_pem_x509_certificate(dev.paths.cert.read_bytes()))
    assert info["kind"] == "device" and info["dns"] == ["plc.local"] and info["ips"] == ["10.0.0.1"]
    assert info["extended_key_usage"] == ["serverAuth", "clientAuth"] and info["key_usage"] == ["digital_signature"]
    assert info["serial"] == format(dev.serial, "x") and info["fingerprint"] == dev.fingerprint
    assert {e["name"] for e in info["extensions"] if e["critical"]} == {"basicConstraints", "keyUsage"}


def _verify(store, entry, **kw):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(entry.paths.cert.read_bytes())
    return verify_leaf(cert, root=store.root_cert(), issuing=store.issuing_cert(), crl=store.load_crl(), **kw)


def test_verify_leaf_accepts_and_rejects(store, tmp_path):
    dev = store.issue_device("plc", dns=["plc.local"], ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    op = store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    assert _verify(store, dev, host="10.0.0.1")["checks"] == [
        "chain",
        "dates",
        "revocation",
        "purpose:device",
        "host:10.0.0.1",
    ]
    _verify(store, dev, host="PLC.local")
    _verify(store, op)
    cases = [
        (dev, {"host": "10.0.0.2"}, "IP 10.0.0.2 is not in"),
        (dev, {"host": "other.local"}, "host other.local is not in"),
        (dev, {"purpose": "operator"}, "carries no role"),
        (op, {"purpose": "device"}, "lacks serverAuth"),
        (dev, {"at": dt.datetime.now(dt.UTC) + dt.timedelta(days=400)}, "expired"),
        (dev, {"at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)}, "not valid yet"),
    ]
    for entry, kw, message in cases:
        with pytest.raises(CertificateRejected, match=message) as info:
            _verify(store, entry, **kw)
        assert isinstance(info.value, TLSError) and info.value.exit_code == ExitCode.TLS
    store.revoke("alice", password=CA_PASS)
    with pytest.raises(CertificateRejected, match="revoked"):
        _verify(store, op)
    # a certificate from another PKI is an unknown CA
    from wsctl.pki.store import Store

    other = Store(tmp_path / "other")
    other.init(password=CA_PASS)
    foreign = other.issue_device("plc", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    with pytest.raises(CertificateRejected, match="not issued by this store"):
        _verify(store, foreign)


def test_host_matching_and_dns_normalisation():
    assert host_matches("*.plant.local", "plc.plant.local")
    assert not host_matches("*.plant.local", "a.b.plant.local")
    assert not host_matches("*.plant.local", "plant.local")
    assert check_dns("Bücher.Example") == "xn--bcher-kva.example"
    assert check_dns("*.plant.local") == "*.plant.local"
    for bad in ("", "a..b", "exa mple.com", "10.0.0.1", "*.com", "a" * 64 + ".com"):
        with pytest.raises(InvalidInput):
            check_dns(bad)
