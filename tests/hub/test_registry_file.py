"""The registry file itself: created private, WAL, refused when it is not a
wsctl registry (not SQLite, another program's database, a newer schema, damaged),
and migrated — each migration all or nothing — when it is older."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from registry_helpers import V2, open_registry

from wsctl.core.errors import InvalidInput, RegistryError
from wsctl.core.hub.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from wsctl.registry import Registry


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_registry_is_0600_with_its_wal_files_and_in_wal_mode(tmp_path):
    old_umask = os.umask(0)  # even where new files would be world-writable
    try:
        reg = open_registry(tmp_path)
    finally:
        os.umask(old_umask)
    with reg:
        reg.add_device("CP-17", profile="ocpp16")
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["hub.db", "hub.db-shm", "hub.db-wal"]
        assert {name: _mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
        with reg._db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert reg.schema_version == SCHEMA_VERSION


def test_an_existing_registry_readable_by_others_is_made_private(tmp_path, caplog):
    open_registry(tmp_path).close()
    for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
    assert {_mode(p) for p in tmp_path.iterdir()} == {0o600}
    assert "hub.db was readable by others (mode 644); it is now 0600" in caplog.text


def test_a_missing_file_is_not_created_when_asked_not_to(tmp_path):
    with pytest.raises(InvalidInput, match=r"hub\.db: no such hub registry") as info:
        Registry.open(tmp_path / "hub.db", create=False)
    assert "wsctl hub devices add" in info.value.hint
    assert not (tmp_path / "hub.db").exists()


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(InvalidInput, match="directory .*nodir does not exist"):
        Registry.open(tmp_path / "nodir" / "hub.db")


@pytest.mark.parametrize(
    "content",
    [b"not a database at all, just text\n" * 10, os.urandom(4096), b"SQLite format 3\x00" + b"\xff" * 84],
    ids=["text", "random", "bad-header"],
)
def test_a_file_that_is_not_sqlite_is_invalid_input_and_left_alone(tmp_path, content):
    path = tmp_path / "hub.db"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=r"hub\.db: not a wsctl hub registry") as info:
        Registry.open(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.db"]


def test_another_programs_sqlite_database_is_refused_and_not_touched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match=r"other\.db: an SQLite database, but not a wsctl hub registry"):
        Registry.open(path)
    assert path.read_bytes() == before  # not switched to WAL, not migrated


def test_an_empty_file_becomes_a_registry(tmp_path):
    path = tmp_path / "hub.db"
    path.write_bytes(b"")
    with Registry.open(path) as reg:
        assert reg.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "hub.db"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    with pytest.raises(InvalidInput, match="not a regular file"):
        Registry.open(path)


def test_a_damaged_registry_is_invalid_input_not_a_traceback(tmp_path):
    with open_registry(tmp_path) as reg:
        for i in range(200):
            reg.add_device(f"CP-{i}", profile="ocpp16", groups=["g"])
    path = tmp_path / "hub.db"
    data = bytearray(path.read_bytes())
    page = 4096
    data[page : 4 * page] = os.urandom(3 * page)  # the header stays: SQLite opens it, then finds the damage
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match=r"hub\.db: not a wsctl hub registry, or damaged"):
        with Registry.open(path) as reg:
            reg.devices()


def test_a_registry_from_a_newer_wsctl_is_refused_before_anything_is_written(tmp_path):
    with open_registry(tmp_path, migrations=(*MIGRATIONS, V2)):
        pass
    path = tmp_path / "hub.db"
    before = path.read_bytes()
    with pytest.raises(
        InvalidInput, match=rf"schema version {SCHEMA_VERSION + 1} is newer than this wsctl reads"
    ) as info:
        Registry.open(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


def test_an_older_registry_is_migrated_and_keeps_its_data(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16", groups=["g"])
        reg.audit(at=1.0, actor="alice", role=None, device="CP-17", action="add", outcome="ok")
    with open_registry(tmp_path, migrations=(*MIGRATIONS, V2)) as reg:
        assert reg.schema_version == SCHEMA_VERSION + 1
        assert reg.device("CP-17").groups == ("g",)
        assert reg.audit_log()[0]["actor"] == "alice"
        with reg._db.read() as conn:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(devices)")}
        assert "location" in columns
    with open_registry(tmp_path, migrations=(*MIGRATIONS, V2)) as reg:  # nothing left to do the second time
        assert reg.schema_version == SCHEMA_VERSION + 1


def test_a_migration_failing_half_way_is_rolled_back_whole(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
    broken = "CREATE TABLE half (x);\nALTER TABLE devices ADD COLUMN location TEXT;\nINSERT INTO nosuch VALUES (1);\n"
    with pytest.raises(RegistryError, match=rf"migrating the registry to schema version {SCHEMA_VERSION + 1} failed"):
        open_registry(tmp_path, migrations=(*MIGRATIONS, broken))
    with open_registry(tmp_path) as reg:
        assert reg.schema_version == SCHEMA_VERSION
        with reg._db.read() as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(devices)")}
        assert "half" not in tables and "location" not in columns
        assert reg.device("CP-17") is not None
    with open_registry(tmp_path, migrations=(*MIGRATIONS, V2)) as reg:  # the fixed migration then applies
        assert reg.schema_version == SCHEMA_VERSION + 1


def test_a_fresh_file_is_built_by_every_migration_in_order(tmp_path):
    with open_registry(tmp_path, migrations=(*MIGRATIONS, V2)) as reg:
        assert reg.schema_version == SCHEMA_VERSION + 1
        reg.add_device("CP-17", profile="ocpp16")
