"""Station CSRs signed as one batch (`sign_station_csrs`, the hub's path in a renewal
storm): each request stands alone — a bad one is refused with its own error and audit
line, the rest are committed together — and a batch costs one store operation."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from pki_helpers import CA_PASS

from wsctl.core.errors import InvalidInput, PasswordError, WsctlError
from wsctl.pki import commit
from wsctl.pki.index import format_serial
from wsctl.pki.station import sign_station_csr, sign_station_csrs
from wsctl.pki.station_side import new_key_and_csr
from wsctl.pki.store import Store


def audit(store):
    return [json.loads(line) for line in store.audit_path.read_text().splitlines()]


def csr_for(cn):
    return new_key_and_csr(cn)[1]


def test_a_batch_signs_each_good_csr_and_refuses_each_bad_one_alone(store):
    store.issue_device("CP-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    old = store.find("CP-1")
    old_key = store.leaf_cert(old).public_key()
    before = len(audit(store))
    results = sign_station_csrs(
        store,
        [
            ("CP-1", csr_for("CP-1")),  # a renewal: same names, the CSR's key
            ("CP-2", csr_for("CP-2")),  # a new station
            ("CP-3", csr_for("CP-4")),  # the subject names another station
            ("alice", csr_for("alice")),  # an operator's name
            ("CP-2", csr_for("CP-2")),  # the same station twice
            ("CP-5", "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n"),
            ("bad/name", csr_for("CP-6")),
        ],
        password=CA_PASS,
    )
    renewed, new, *refused = results
    assert all(isinstance(r, WsctlError) for r in refused), refused
    assert "CP-4" in refused[0].message and "CP-3" in refused[0].message
    assert "operator" in refused[1].message
    assert "second CSR of CP-2" in refused[2].message
    index = store.load_index()
    assert index.current("CP-1").serial == renewed.serial and renewed.ips == ["10.0.0.1"] and not renewed.has_key
    assert index.by_serial(old.serial).status == "superseded"
    assert index.current("CP-2").serial == new.serial and new.dns == [] and new.ips == []
    assert index.current("CP-3") is None and index.current("CP-5") is None
    assert index.current("alice").kind == "operator"
    cert = x509.load_pem_x509_certificate(renewed.paths.cert.read_bytes())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "CP-1"
    assert cert.public_key() != old_key
    lines = audit(store)[before:]
    assert [(line["action"], line["subject"], line["result"]) for line in lines] == [
        ("renew", "device:CP-1", "ok"),
        ("sign", "device:CP-2", "ok"),
        ("sign", "device:CP-3", "error"),
        ("sign", "device:alice", "error"),
        ("sign", "device:CP-2", "error"),
        ("sign", "device:CP-5", "error"),
        ("sign", "device:bad/name", "error"),
    ]
    assert lines[0]["replaces"] == format_serial(old.serial)
    assert all(line["error"] for line in lines[2:])


def test_a_batch_of_only_bad_csrs_writes_nothing_but_its_audit_lines(store):
    index_before = store.index_path.read_bytes()
    results = sign_station_csrs(store, [("CP-1", csr_for("CP-9")), ("CP-2", "")], password=CA_PASS)
    assert all(isinstance(r, InvalidInput) for r in results)
    assert store.index_path.read_bytes() == index_before
    assert not (store.path / "devices" / "CP-1").exists()
    assert [line["result"] for line in audit(store)[-2:]] == ["error", "error"]


def test_a_wrong_passphrase_fails_the_whole_batch_and_is_audited_once(store):
    with pytest.raises(PasswordError):
        sign_station_csrs(store, [("CP-1", csr_for("CP-1")), ("CP-2", csr_for("CP-2"))], password=b"wrong")
    assert store.load_index().current("CP-1") is None
    last = audit(store)[-1]
    assert last["result"] == "error" and last["subject"] == "device:CP-1,CP-2"


def test_a_single_sign_is_a_batch_of_one_and_raises_its_refusal(store):
    with pytest.raises(InvalidInput, match="not the station CP-1"):
        sign_station_csr(store, csr_for("CP-2"), station_id="CP-1", password=CA_PASS)
    entry = sign_station_csr(store, csr_for("CP-1"), station_id="CP-1", password=CA_PASS)
    assert store.load_index().current("CP-1").serial == entry.serial
    assert audit(store)[-1]["action"] == "sign" and audit(store)[-1]["result"] == "ok"


def test_a_batch_is_one_repair_one_index_read_and_one_commit(store, monkeypatch):
    """The cost the storm paid per CSR (a repair scan, two index parses, an index
    rewrite) is paid once per batch."""
    counts = {"repair": 0, "index": 0, "commit": 0}
    for name, owner, attr in (("repair", Store, "_repair"), ("index", Store, "load_index")):
        real = getattr(owner, attr)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(owner, attr, counted)
    real_commit = commit.Transaction.commit

    def counted_commit(self):
        counts["commit"] += 1
        return real_commit(self)

    monkeypatch.setattr(commit.Transaction, "commit", counted_commit)
    fresh = Store(store.path)
    results = sign_station_csrs(fresh, [(f"CP-{i}", csr_for(f"CP-{i}")) for i in range(20)], password=CA_PASS)
    assert not [r for r in results if isinstance(r, Exception)]
    assert counts == {"repair": 1, "index": 1, "commit": 1}, counts
