"""Fixtures of the EST tests: a fresh plant store per test, one vendor CA per session."""

from __future__ import annotations

import pytest
from est_helpers import make_plant, make_vendor


@pytest.fixture(scope="session")
def vendor(tmp_path_factory):
    return make_vendor(tmp_path_factory.mktemp("vendor"))


@pytest.fixture
def plant(tmp_path, vendor):
    return make_plant(tmp_path, vendor)
