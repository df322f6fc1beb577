"""CSR signing (only the approved names), corrupted input, atomic multi-file writes, audit."""

from __future__ import annotations

import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pki_helpers import CA_PASS, audit_lines, snapshot

from wsctl.core.errors import InvalidInput, PasswordError, StoreError
from wsctl.pki import fsutil
from wsctl.pki.csr import create_csr


def make_csr(name="plc-9", dns=("evil.example.com",), ips=("10.0.0.9",)):
    key, csr = create_csr(name, dns=dns, ips=ips)
    return key, csr.public_bytes(Encoding.PEM)


def test_sign_uses_only_public_key_and_approved_names(store):
    key, pem = make_csr()
    entry = store.sign_csr(pem, kind="device", ips=["10.0.0.99"], password=CA_PASS)
    cert = x509.load_pem_x509_certificate(entry.paths.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(v) for v in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.99"]
    assert san.get_values_for_type(x509.DNSName) == []  # the CSR's evil.example.com is not copied
    assert cert.public_key() == key.public_key()
    assert entry.name == "plc-9" and not entry.has_key and not entry.paths.key.exists()


def test_sign_operator_with_name_override(store):
    _, pem = make_csr(dns=(), ips=())
    entry = store.sign_csr(pem, kind="operator", name="carol", role="supervisor", password=CA_PASS)
    assert entry.name == "carol" and entry.role == "supervisor" and entry.kind == "operator"


def test_sign_refuses_bad_signature_and_garbage(store):
    _, pem = make_csr("plc-1")
    der = x509.load_pem_x509_csr(pem).public_bytes(Encoding.DER)
    tampered = der.replace(b"plc-1", b"plc-2")  # same length: still parses, signature breaks
    assert tampered != der
    before = snapshot(store.path)
    with pytest.raises(InvalidInput, match="bad signature"):
        store.sign_csr(tampered, kind="device", ips=["10.0.0.1"], password=CA_PASS)
    with pytest.raises(InvalidInput, match="not a readable"):
        store.sign_csr(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            kind="device",
            ips=["10.0.0.1"],
            password=CA_PASS,
        )
    assert snapshot(store.path) == before


def test_resigning_from_csr_removes_a_stale_key(store):
    first = store.issue_device("plc-9", ips=["10.0.0.9"], password=CA_PASS, key_password=None)
    store.revoke("plc-9", password=CA_PASS)
    assert first.paths.key.exists()
    _, pem = make_csr()
    store.sign_csr(pem, kind="device", ips=["10.0.0.9"], password=CA_PASS)
    assert not first.paths.key.exists()


def test_corrupted_index_is_a_store_error(store):
    store.index_path.write_text('{"format": "wsctl-pki-index/1", "entries": [')
    with pytest.raises(StoreError, match="corrupted"):
        store.entries()
    before = snapshot(store.path)
    with pytest.raises(StoreError, match="corrupted"):
        store.issue_device("x", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    assert snapshot(store.path) == before


def test_corrupted_ca_pem_is_a_store_error(store):
    store.issuing_cert_path.write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    before = snapshot(store.path)
    with pytest.raises(StoreError, match="not a readable certificate"):
        store.issue_device("x", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    assert snapshot(store.path) == before


def test_failure_in_the_middle_of_a_commit_rolls_back(store, monkeypatch):
    store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    before = snapshot(store.path)
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if str(dst).endswith("index.json"):  # cert, chain, key already moved by now
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    with pytest.raises(OSError):
        store.issue_device("plc-2", ips=["10.0.0.2"], password=CA_PASS, key_password=None)
    with pytest.raises(OSError):
        store.revoke("plc-1", password=CA_PASS)
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    assert len(calls) >= 4
    assert snapshot(store.path) == before
    assert not (store.path / "devices" / "plc-2").exists()
    assert not [p for p in store.path.rglob("*") if p.name.endswith(".tmp") or ".bak-" in p.name]


def test_audit_log_records_every_operation(store):
    store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    with pytest.raises(PasswordError):
        store.issue_device("plc-2", ips=["10.0.0.2"], password=b"wrong", key_password=None)
    store.revoke("plc-1", password=CA_PASS)
    store.write_crl(password=CA_PASS)
    lines = audit_lines(store)
    assert [(a["action"], a["result"]) for a in lines] == [
        ("init", "ok"),
        ("issue", "ok"),
        ("issue", "error"),
        ("revoke", "ok"),
        ("crl", "ok"),
    ]
    for line in lines:
        assert {"time", "actor", "action", "subject", "serial", "result"} <= set(line)
    assert lines[1]["subject"] == "device:plc-1" and lines[3]["serial"] == lines[1]["serial"]
    assert "wrong passphrase" in lines[2]["error"]
    assert oct(store.audit_path.stat().st_mode & 0o777) == "0o600"


def test_index_serials_are_hex_strings(store):
    entry = store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    raw = json.loads(store.index_path.read_text())
    assert raw["entries"][0]["serial"] == format(entry.serial, "x")
    assert raw["entries"][0]["status"] == "valid" and raw["entries"][0]["not_after"].endswith("Z")


def test_an_undo_that_fails_too_is_finished_by_the_next_open(store, monkeypatch):
    before = snapshot(store.path)
    real_replace, real_unlink = os.replace, os.unlink

    def failing_replace(src, dst):
        if str(dst).endswith("index.json"):
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst)

    def failing_unlink(path, *args, **kwargs):
        if str(path).endswith("plc-2/cert.pem"):  # undoing the new certificate fails as well
            raise OSError(5, "Input/output error", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    monkeypatch.setattr(fsutil.os, "unlink", failing_unlink)
    with pytest.raises(OSError):
        store.issue_device("plc-2", ips=["10.0.0.2"], password=CA_PASS, key_password=None)
    monkeypatch.undo()
    assert (store.path / ".journal-rollback").exists()
    assert (store.path / "devices" / "plc-2" / "cert.pem").exists()  # half undone
    from wsctl.pki.store import Store

    told = []
    assert [e.name for e in Store(store.path, notify=told.append).entries()] == []
    assert snapshot(store.path) == before and "undid a change" in told[0]
