"""Fixtures for the record/replay tests (helpers: record_helpers.py)."""

from __future__ import annotations

import pytest
from record_helpers import echo_server, make_plant


@pytest.fixture(scope="session")
def plant(tmp_path_factory):
    return make_plant(tmp_path_factory.mktemp("record-plant"))


@pytest.fixture
def echo(plant):
    server = echo_server(plant)
    yield server
    server.kill()
