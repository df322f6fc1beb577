"""Fixtures for the library-level PKI tests: a fresh store per test (P-256, fast)."""

from __future__ import annotations

import pytest
from pki_helpers import CA_PASS


@pytest.fixture
def store(tmp_path):
    from wsctl.pki.store import Store

    s = Store(tmp_path / "certs")
    s.init(name="Test Plant", password=CA_PASS)
    return s
