"""Symlinked store entries are refused (exit 8) and nothing is written through them."""

from __future__ import annotations

import pytest
from cli_helpers import snapshot


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "elsewhere"
    d.mkdir()
    return d


def _assert_refused(result, link) -> None:
    assert result.code == 8, result.err
    line = result.one_error_line()
    assert "symbolic link" in line and str(link) in line


@pytest.mark.parametrize("entry", ["audit.log", ".lock"])
def test_symlinked_audit_log_or_lock_is_refused(pki, outside, entry):
    link = pki.store_dir / entry
    link.unlink(missing_ok=True)
    target = outside / "target"
    link.symlink_to(target)  # dangling: following it would create the file out there
    before = snapshot(pki.store_dir)
    r = pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1")
    _assert_refused(r, link)
    assert not target.exists()
    assert snapshot(pki.store_dir) == before
    assert not (pki.store_dir / "devices" / "plc-1").exists()


def test_symlinked_device_directory_is_refused(pki, outside):
    link = pki.store_dir / "devices" / "plc-1"
    link.symlink_to(outside, target_is_directory=True)
    r = pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1")
    _assert_refused(r, link)
    assert list(outside.iterdir()) == []  # no key, no certificate went there
    audit = (pki.store_dir / "audit.log").read_text().splitlines()[-1]
    assert '"result": "error"' in audit and "symbolic link" in audit


def test_symlinked_index_is_not_read(pki, outside):
    index = pki.store_dir / "index.json"
    fake = outside / "index.json"
    fake.write_bytes(index.read_bytes())
    index.unlink()
    index.symlink_to(fake)
    r = pki.certs("list")
    _assert_refused(r, index)


def test_a_symlinked_store_directory_itself_is_fine(pki, tmp_path):
    link = tmp_path / "certs-link"
    link.symlink_to(pki.store_dir, target_is_directory=True)
    r = pki("certs", "--dir", link, "issue", "device", "plc-1", "--ip", "10.0.0.1")
    assert r.code == 0, r.err
    assert (pki.store_dir / "devices" / "plc-1" / "key.pem").is_file()


@pytest.mark.parametrize("fmt", ["pem-key", "der-key", "p12"])
def test_a_private_export_is_not_written_through_a_symlink_out(pki, tmp_path, fmt):
    assert pki.certs("issue", "operator", "alice", "--role", "engineer").code == 0
    landed = tmp_path / "landed"
    link = tmp_path / "d1.key"
    link.symlink_to(landed)  # dangling: following it would create a 0644 file with the key
    r = pki.certs("export", "alice", "--format", fmt, "--out", link)
    assert r.code == 8, r.err
    assert "symbolic link" in r.one_error_line()
    assert not landed.exists()
