"""Shared by every test folder.  This directory is on sys.path (pytest puts a
rootdir conftest's folder there), so `cli_runner` and `shared_pki` are importable
everywhere.  Folder-specific fixtures stay in each folder's conftest.py."""

from __future__ import annotations

import pytest
from shared_pki import PKI, build_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    """The shared test PKI (see shared_pki.py), made once per session."""
    return build_pki(tmp_path_factory.mktemp("pki"))
