"""Issuing many certificates: `Store.issue_devices` (one commit for N), the
index's one-entry-per-line layout (stores written before read the same), and
reading the CRL's nextUpdate without cryptography."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pki_helpers import CA_PASS, audit_lines, snapshot

from wsctl.core.errors import InvalidInput, StoreError
from wsctl.pki import index as index_module
from wsctl.pki.crlinfo import der_next_update
from wsctl.pki.store import Store


def specs(store: Store, *names: str):
    return [store.device_spec(name, [f"{name}.plant.local"], [], 30) for name in names]


def count_calls(monkeypatch, owner, name: str) -> list[int]:
    calls = [0]
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_issuing_several_devices_reads_and_writes_the_index_once(store, monkeypatch):
    writes = count_calls(monkeypatch, index_module.Index, "to_bytes")
    entries = store.issue_devices(specs(store, "plc-1", "plc-2", "plc-3"), password=CA_PASS, key_password=None)
    # the cost that grows with the store is paid once per batch, not once per certificate
    assert writes[0] == 1
    assert [e.name for e in entries] == ["plc-1", "plc-2", "plc-3"]
    for entry in entries:
        cert = x509.load_pem_x509_certificate(entry.paths.cert.read_bytes())
        assert cert.serial_number == entry.serial and entry.paths.key.is_file()
    assert [e.name for e in store.entries()] == ["plc-1", "plc-2", "plc-3"]
    issued = [line for line in audit_lines(store) if line["action"] == "issue"]
    assert [(line["subject"], line["result"]) for line in issued] == [
        ("device:plc-1", "ok"),
        ("device:plc-2", "ok"),
        ("device:plc-3", "ok"),
    ]


def test_one_by_one_writes_the_index_each_time(store, monkeypatch):
    # what the batch saves (and proof that the counter above counts)
    writes = count_calls(monkeypatch, index_module.Index, "to_bytes")
    for spec in specs(store, "plc-1", "plc-2", "plc-3"):
        store.issue_device(spec.name, dns=spec.dns, password=CA_PASS, key_password=None)
    assert writes[0] == 3


def test_a_batch_with_one_existing_name_issues_none_of_them(store):
    store.issue_device("plc-2", ips=["10.0.0.2"], password=CA_PASS, key_password=None)
    before = snapshot(store.path)
    with pytest.raises(StoreError, match="plc-2' already exists"):
        store.issue_devices(specs(store, "plc-1", "plc-2", "plc-3"), password=CA_PASS, key_password=None)
    assert snapshot(store.path) == before
    assert audit_lines(store)[-1]["result"] == "error"
    assert audit_lines(store)[-1]["subject"] == "device:plc-1,plc-2,plc-3"


def test_a_batch_naming_a_device_twice_is_refused(store):
    with pytest.raises(InvalidInput, match="given twice: plc-1"):
        store.issue_devices(specs(store, "plc-1", "plc-1"), password=CA_PASS, key_password=None)


def test_an_index_in_the_earlier_indented_layout_reads_the_same_and_is_rewritten_one_entry_per_line(store):
    store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    document = json.loads(store.index_path.read_bytes())
    # what every store written before this change holds
    store.index_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    assert [(e.name, e.serial) for e in store.entries()] == [("plc-1", store.find("plc-1").serial)]
    store.issue_device("plc-2", ips=["10.0.0.2"], password=CA_PASS, key_password=None)
    text = store.index_path.read_text()
    rewritten = json.loads(text)
    assert rewritten["format"] == "wsctl-pki-index/1"
    assert rewritten["entries"][0] == document["entries"][0]
    assert [e["name"] for e in rewritten["entries"]] == ["plc-1", "plc-2"]
    entry_lines = [line for line in text.splitlines() if line.startswith('{"serial"')]
    assert len(entry_lines) == 2


def _crl(next_update: dt.datetime) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL test")])
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .next_update(next_update)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2026, 2, 1, 12, 30, 5, tzinfo=dt.UTC), dt.datetime(2051, 3, 4, 5, 6, 7, tzinfo=dt.UTC)],
    ids=["UTCTime", "GeneralizedTime"],
)
def test_the_crl_next_update_read_from_der_is_what_cryptography_reads(when):
    der = _crl(when)
    assert der_next_update(der) == x509.load_der_x509_crl(der).next_update_utc == when


def test_the_store_crl_next_update_matches_cryptography(store):
    store.revoke(
        store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None).name, password=CA_PASS
    )
    assert store.crl_next_update() == store.load_crl().next_update_utc


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x01", b"not DER at all", b"\x30\x82\xff\xff"])
def test_something_else_than_a_crl_is_refused(data):
    with pytest.raises(ValueError):
        der_next_update(data)


def test_a_corrupted_store_crl_is_a_store_error(store):
    store.crl_der_path.write_bytes(b"\x30\x03garbage")
    with pytest.raises(StoreError, match="crl.der is corrupted"):
        store.crl_next_update()
