"""The registry schema as data (wsctl.core.hub.schema): versions and what a
registry at a version still needs."""

from __future__ import annotations

import sqlite3

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.schema import MIGRATIONS, SCHEMA_VERSION, pending_migrations


def test_version_is_the_number_of_migrations():
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1


def test_an_older_registry_needs_the_migrations_after_its_version():
    scripts = ("a", "b", "c")
    assert pending_migrations(0, "f", scripts) == [(1, "a"), (2, "b"), (3, "c")]
    assert pending_migrations(2, "f", scripts) == [(3, "c")]
    assert pending_migrations(3, "f", scripts) == []


def test_a_newer_registry_is_refused_in_one_line_naming_both_versions():
    with pytest.raises(InvalidInput, match=r"hub\.db: registry schema version 5 is newer than this wsctl reads \(3\)"):
        pending_migrations(5, "hub.db", ("a", "b", "c"))


def test_every_migration_runs_on_sqlite():
    conn = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        conn.executescript(script)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"devices", "device_groups", "transactions", "id_tags", "queue", "audit"} <= tables
