"""Opening a store removes what killed runs left, and nothing that is not the store's."""

from __future__ import annotations

import stat

import pytest
from pki_helpers import CA_PASS, audit_lines

from wsctl.core.errors import StoreError
from wsctl.pki.store import Store


def test_open_sweeps_leftover_key_temporaries_and_backups(store):
    entry = store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    leaf = entry.paths.key.parent
    leftovers = [leaf / ".key.pem.k2j4h1.tmp", leaf / ".key.pem.bak-4242", store.path / ".index.json.x1y2.tmp"]
    for p in leftovers:
        p.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    (store.path / ".staging-abc").mkdir()
    foreign = [store.path / ".editor-swap.tmp", leaf / "notes.tmp"]
    for p in foreign:
        p.write_text("not wsctl's")
    told = []
    reopened = Store(store.path, notify=told.append)
    assert [e.name for e in reopened.entries()] == ["plc-1"]
    assert not any(p.exists() for p in leftovers) and not (store.path / ".staging-abc").exists()
    assert all(p.exists() for p in foreign)
    assert len(told) == 1 and "removed 4 leftover temporary file(s)" in told[0]
    assert audit_lines(store)[-1]["action"] == "repair"
    assert stat.S_IMODE(entry.paths.key.stat().st_mode) == 0o600


def test_a_directory_that_is_no_store_is_left_alone(tmp_path):
    stray = tmp_path / ".index.json.abc.tmp"
    stray.write_text("someone else's")
    s = Store(tmp_path)
    assert not s.exists()
    with pytest.raises(StoreError, match="no PKI store"):
        s.entries()
    assert stray.exists() and not (tmp_path / ".lock").exists()


def test_a_relative_store_directory_commits_and_recovers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Store("certs")
    s.init(name="Relative Plant", password=CA_PASS)
    s.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    assert s.init(name="Relative Plant 2", password=CA_PASS, force=True, current_password=CA_PASS).is_dir()
    assert [e.name for e in Store("certs").entries()] == []
