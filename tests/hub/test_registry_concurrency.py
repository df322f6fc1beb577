"""Two writers at once: the hub and `wsctl hub devices add` in another process,
or two connections in one.  WAL, busy_timeout and BEGIN IMMEDIATE make them
queue; nothing is lost, and a writer held up too long gets one clear line."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from registry_helpers import open_registry, start_writer

from wsctl.core.errors import RegistryError
from wsctl.core.hub.schema import SCHEMA_VERSION
from wsctl.registry import db as registry_db


def test_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "hub.db"
    with open_registry(tmp_path) as reg:
        writers = [start_writer(path, f"proc{n}", 40) for n in range(3)]
        try:
            for i in range(40):  # the hub's own writes, meanwhile
                reg.add_device(f"hub-{i}", profile="ocpp16")
                reg.seen(f"hub-{i}", at=float(i))
        finally:
            results = [w.communicate(timeout=120) for w in writers]
        assert [w.returncode for w in writers] == [0, 0, 0], results
        ids = reg.device_ids()
        assert len(ids) == 160
        assert {i.split("-")[0] for i in ids} == {"hub", "proc0", "proc1", "proc2"}
        assert len(reg.audit_log(limit=1000)) == 120


def test_a_writer_waits_for_another_connections_transaction(tmp_path):
    first, second = open_registry(tmp_path), open_registry(tmp_path)
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock():
        with first._db.write() as conn:
            conn.execute("INSERT INTO id_tags (id_tag, status) VALUES ('HELD', 'Accepted')")
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold_the_write_lock)
    thread.start()
    try:
        assert holding.wait(10)
        threading.Timer(0.2, release.set).start()
        second.add_device("CP-17", profile="ocpp16")  # blocks until the first commits, then succeeds
    finally:
        release.set()
        thread.join(10)
    assert second.id_tag_status("HELD") == "Accepted" and first.device("CP-17") is not None
    first.close()
    second.close()


def test_a_writer_held_up_beyond_the_busy_timeout_gets_one_line(tmp_path, monkeypatch):
    first = open_registry(tmp_path)
    monkeypatch.setattr(registry_db, "BUSY_TIMEOUT", 0.1)
    second = open_registry(tmp_path)
    try:
        with first._db.write():
            with pytest.raises(RegistryError, match=r"hub\.db: registry busy: another process held its write lock"):
                second.add_device("CP-17", profile="ocpp16")
        assert second.device("CP-17") is None
        second.add_device("CP-17", profile="ocpp16")  # the lock is free again: the same call works
    finally:
        first.close()
        second.close()


def test_threads_of_one_process_share_one_registry(tmp_path):
    with open_registry(tmp_path) as reg:
        errors = []

        def add(prefix):
            try:
                for i in range(50):
                    reg.add_device(f"{prefix}-{i}", profile="p")
                    reg.seen(f"{prefix}-{i}", at=1.0)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(f"t{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == [] and len(reg.device_ids()) == 200


def test_processes_creating_the_same_new_registry_at_once_migrate_it_once(tmp_path):
    path, go = tmp_path / "hub.db", tmp_path / "go"
    names = [f"proc{n}" for n in range(6)]
    writers = [start_writer(path, name, 5, go=go) for name in names]
    try:
        deadline = time.monotonic() + 60
        while not all(Path(f"{go}.{name}").exists() for name in names) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()  # all of them open the file that does not exist yet, at once
    finally:
        results = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0] * 6, results
    with open_registry(tmp_path) as reg:
        assert len(reg.device_ids()) == 30 and reg.schema_version == SCHEMA_VERSION
