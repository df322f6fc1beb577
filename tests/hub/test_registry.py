"""The hub registry's API on a real SQLite file: devices, presence, boot reports,
transactions, id tags, queued commands, audit — and all of it after a restart."""

from __future__ import annotations

import sqlite3

import pytest
from registry_helpers import open_registry

from wsctl.core.errors import InvalidInput
from wsctl.registry import DeviceRecord, QueuedCommand, Registry


def test_a_device_added_is_read_back_with_its_groups(tmp_path):
    with open_registry(tmp_path) as reg:
        assert reg.add_device("CP-17", profile="ocpp16", groups=["line-2", "line-1", "line-1"]) is None
        record = reg.device("CP-17")
    assert isinstance(record, DeviceRecord)
    assert (record.id, record.profile, record.security_profile, record.status) == ("CP-17", "ocpp16", 3, "approved")
    assert record.groups == ("line-1", "line-2")
    assert (record.online, record.since, record.queued, record.has_secret) == (False, None, 0, False)


def test_unknown_device_is_none_and_verbs_on_it_name_it(tmp_path):
    with open_registry(tmp_path) as reg:
        assert reg.device("nobody") is None
        for call in (
            lambda: reg.set_status("nobody", "blocked"),
            lambda: reg.remove("nobody"),
            lambda: reg.set_secret("nobody"),
            lambda: reg.online("nobody", at=1, remote="r", security_profile=3),
            lambda: reg.boot("nobody", at=1, vendor="v", model="m"),
            lambda: reg.queue("nobody", at=1, expires_at=2, operator="a", role=None, command="Reset", params={}),
        ):
            with pytest.raises(InvalidInput, match="no device 'nobody' in the registry"):
                call()


def test_duplicate_id_is_invalid_input(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        with pytest.raises(InvalidInput, match="'CP-17' is already in the registry"):
            reg.add_device("CP-17", profile="ocpp201")
        assert reg.device("CP-17").profile == "ocpp16"


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"device_id": "a/b"}, "contains '/'"),
        ({"device_id": "x" * 10_000}, "more than 64"),
        ({"security_profile": 4}, "security profile must be 1, 2 or 3"),
        ({"status": "online"}, "device status must be one of"),
        ({"groups": ["a b"]}, "group name 'a b'"),
        ({"profile": ""}, "profile name must be"),
        ({"security_profile": 3, "secret": "s" * 20}, "has no secret"),
    ],
)
def test_bad_device_fields_are_refused(tmp_path, kwargs, says):
    args = {"device_id": "CP-1", "profile": "ocpp16", **kwargs}
    with open_registry(tmp_path) as reg:
        with pytest.raises(InvalidInput, match=says):
            reg.add_device(args.pop("device_id"), **args)
        assert reg.devices() == []


def test_devices_filter_by_group_and_status(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("a", profile="p", groups=["g1"])
        reg.add_device("b", profile="p", groups=["g1", "g2"], status="pending")
        reg.add_device("c", profile="p")
        assert [d.id for d in reg.devices()] == ["a", "b", "c"]
        assert [d.id for d in reg.devices(group="g1")] == ["a", "b"]
        assert [d.id for d in reg.devices(group="g1", status="pending")] == ["b"]
        assert reg.devices(group="none") == []


def test_status_changes_and_removal_takes_groups_and_queue_with_it(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("a", profile="p", groups=["g"], status="pending")
        reg.set_status("a", "approved")
        assert reg.device("a").status == "approved"
        reg.set_status("a", "blocked")
        assert reg.device("a").status == "blocked"
        reg.queue("a", at=1, expires_at=100, operator="alice", role="engineer", command="Reset", params={})
        reg.remove("a")
        assert reg.device("a") is None and reg.devices(group="g") == [] and reg.due("a", at=2) == []
        reg.add_device("a", profile="p")
        assert reg.device("a").groups == () and reg.device("a").queued == 0


def test_pending_device_is_kept_with_where_it_came_from(tmp_path):
    with open_registry(tmp_path) as reg:
        record = reg.add_pending(
            "CP-9", profile="ocpp16", security_profile=3, remote="10.0.0.9:5000", fingerprint="sha256:aa", at=50.0
        )
        assert (record.status, record.remote, record.cert_fingerprint, record.created) == (
            "pending",
            "10.0.0.9:5000",
            "sha256:aa",
            50.0,
        )
        again = reg.add_pending(
            "CP-9", profile="ocpp16", security_profile=3, remote="10.0.0.9:6000", fingerprint=None, at=60.0
        )
        assert (again.remote, again.last_seen, again.created) == ("10.0.0.9:6000", 60.0, 50.0)
        reg.add_device("CP-10", profile="ocpp16")
        kept = reg.add_pending("CP-10", profile="other", security_profile=2, remote="evil", fingerprint=None, at=70.0)
        assert (kept.status, kept.profile, kept.remote) == ("approved", "ocpp16", None)


def test_presence_online_offline_seen_and_boot(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        connection = reg.online(
            "CP-17",
            at=100.0,
            remote="10.0.0.17:40000",
            fingerprint="sha256:ab",
            cert_serial=2**158 + 5,
            cert_not_after=100.0 + 30 * 86400,
            security_profile=3,
        )
        reg.seen("CP-17", at=130.0)
        reg.seen("CP-17", at=120.0)  # late and out of order: last_seen does not go back
        reg.boot("CP-17", at=101.0, vendor="ACME", model="Fast", firmware="1.2.3", serial="S1")
        record = reg.device("CP-17")
        assert (record.online, record.since, record.last_seen, record.remote) == (True, 100.0, 130.0, "10.0.0.17:40000")
        assert record.cert_serial == format(2**158 + 5, "x")
        assert record.cert_days_left(100.0) == 30
        assert (record.vendor, record.model, record.firmware, record.serial, record.last_boot) == (
            "ACME",
            "Fast",
            "1.2.3",
            "S1",
            101.0,
        )
        assert reg.offline("CP-17", at=200.0, reason="closed by device", connection=connection)
        record = reg.device("CP-17")
        assert (record.online, record.since, record.offline_reason, record.last_seen) == (
            False,
            200.0,
            "closed by device",
            130.0,
        )


def test_a_replaced_connection_closing_late_leaves_the_new_one_online(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        old = reg.online("CP-17", at=1.0, remote="a", security_profile=3)
        new = reg.online("CP-17", at=2.0, remote="b", security_profile=3)
        assert new > old
        assert not reg.offline("CP-17", at=3.0, reason="replaced", connection=old)
        assert reg.device("CP-17").online and reg.device("CP-17").remote == "b"


def test_boot_fields_from_a_device_are_bounded(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        reg.boot("CP-17", at=1.0, vendor="V" * 100_000, model="M")
        assert len(reg.device("CP-17").vendor) == 256


def test_all_offline_at_hub_start(tmp_path):
    with open_registry(tmp_path) as reg:
        for name in ("a", "b", "c"):
            reg.add_device(name, profile="p")
        reg.online("a", at=1.0, remote="r", security_profile=3)
        reg.online("b", at=1.0, remote="r", security_profile=3)
        assert reg.all_offline(at=9.0) == 2
        assert [(d.online, d.offline_reason, d.since) for d in reg.devices()] == [
            (False, "hub restarted", 9.0),
            (False, "hub restarted", 9.0),
            (False, None, None),
        ]


def test_transaction_ids_are_unique_and_increasing_across_restarts(tmp_path):
    ids = []
    for _ in range(3):
        with open_registry(tmp_path) as reg:
            ids.append(reg.start_transaction("CP-17", at=1.0, id_tag="TAG1", connector_id=1, meter_start=0))
            ids.append(reg.start_transaction("CP-18", at=1.0, id_tag="TAG1", connector_id=2, meter_start=5))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_transactions_open_and_stop(tmp_path):
    with open_registry(tmp_path) as reg:
        first = reg.start_transaction("CP-17", at=1.0, id_tag="TAG1", connector_id=1, meter_start=100)
        second = reg.start_transaction("CP-17", at=2.0, id_tag="TAG2", connector_id=2, meter_start=0)
        assert [t["transaction_id"] for t in reg.open_transactions("CP-17")] == [first, second]
        assert not reg.stop_transaction("CP-18", first, at=4.0, meter_stop=0, reason="Other")  # not CP-18's
        assert reg.stop_transaction("CP-17", first, at=5.0, meter_stop=900, reason="Local")
        assert reg.stop_transaction("CP-17", first, at=6.0, meter_stop=1, reason="again")  # a resent stop: known
        assert not reg.stop_transaction("CP-17", 99_999, at=5.0, meter_stop=1)
        assert reg.open_transactions("CP-17") == [
            {
                "transaction_id": second,
                "device": "CP-17",
                "station_transaction_id": None,
                "id_tag": "TAG2",
                "connector_id": 2,
                "meter_start": 0,
                "started": 2.0,
            }
        ]


def test_a_stations_own_transaction_names_map_to_the_hubs_ids(tmp_path):
    with open_registry(tmp_path) as reg:
        mine = reg.start_transaction(
            "CS-1", at=1.0, id_tag=None, connector_id=1, meter_start=0.5, station_transaction_id="tx-a"
        )
        other = reg.start_transaction(
            "CS-2", at=1.0, id_tag="T", connector_id=1, meter_start=0, station_transaction_id="tx-a"
        )
        assert reg.find_transaction("CS-1", "tx-a") == mine and reg.find_transaction("CS-2", "tx-a") == other
        assert reg.find_transaction("CS-1", "tx-b") is None
        with pytest.raises(InvalidInput, match="CS-1 already has a transaction named 'tx-a'"):
            reg.start_transaction(
                "CS-1", at=2.0, id_tag=None, connector_id=1, meter_start=0, station_transaction_id="tx-a"
            )


def test_id_tags_allow_list(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_id_tag("TAG1")
        reg.add_id_tag("TAG2", status="Blocked")
        reg.add_id_tag("TAG3", expires=100.0)
        assert reg.id_tag_status("TAG1") == "Accepted"
        assert reg.id_tag_status("TAG2") == "Blocked"
        assert reg.id_tag_status("TAG3", at=99.0) == "Accepted"
        assert reg.id_tag_status("TAG3", at=100.0) == "Expired"
        assert reg.id_tag_status("nope") == "Invalid"
        reg.add_id_tag("TAG1", status="Expired")  # replaces
        assert [t["status"] for t in reg.id_tags()] == ["Expired", "Blocked", "Accepted"]
        reg.remove_id_tag("TAG2")
        assert [t["id_tag"] for t in reg.id_tags()] == ["TAG1", "TAG3"]
        with pytest.raises(InvalidInput, match="no id tag 'TAG2'"):
            reg.remove_id_tag("TAG2")
        with pytest.raises(InvalidInput, match="id tag status must be one of"):
            reg.add_id_tag("TAG4", status="Whatever")
        with pytest.raises(InvalidInput, match="1 to 36 printable"):
            reg.add_id_tag("T" * 37)


def test_queue_due_finish_and_expire(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        kwargs = {"operator": "alice", "role": "engineer"}
        first = reg.queue("CP-17", at=10.0, expires_at=20.0, command="Reset", params={"type": "Soft"}, **kwargs)
        second = reg.queue("CP-17", at=11.0, expires_at=100.0, command="ClearCache", params={}, **kwargs)
        third = reg.queue(
            "CP-17", at=12.0, expires_at=100.0, command="UnlockConnector", params={"connectorId": 1}, **kwargs
        )
        assert reg.device("CP-17").queued == 3
        due = reg.due("CP-17", at=15.0)
        assert [q.id for q in due] == [first, second, third]
        assert due[0] == QueuedCommand(first, "CP-17", "alice", "engineer", "Reset", {"type": "Soft"}, 10.0, 20.0)
        assert [q.id for q in reg.due("CP-17", at=20.0)] == [second, third]  # past its time, not yet marked
        assert reg.finish(second, at=16.0, outcome="delivered", result={"status": "Accepted"})
        assert not reg.finish(second, at=17.0, outcome="failed")
        expired = reg.expire(at=25.0)
        assert [q.id for q in expired] == [first]
        assert reg.expire(at=26.0) == []
        assert [q.id for q in reg.due("CP-17", at=30.0)] == [third]
        assert reg.device("CP-17").queued == 1
        with pytest.raises(InvalidInput, match="queue outcome must be one of"):
            reg.finish(third, at=1.0, outcome="maybe")
        with pytest.raises(InvalidInput, match="must be JSON data"):
            reg.queue("CP-17", at=1.0, expires_at=2.0, command="x", params={"a": object()}, **kwargs)
        with pytest.raises(InvalidInput, match="must expire after"):
            reg.queue("CP-17", at=5.0, expires_at=5.0, command="x", params={}, **kwargs)


def test_audit_is_append_only_and_filtered(tmp_path):
    with open_registry(tmp_path) as reg:
        for i, (actor, device) in enumerate([("alice", "CP-1"), ("bob", "CP-2"), ("alice", "CP-2"), ("hub", None)]):
            reg.audit(
                at=float(i), actor=actor, role="engineer", device=device, action="Reset", params={"i": i}, outcome="ok"
            )
        assert [e["params"]["i"] for e in reg.audit_log()] == [0, 1, 2, 3]
        assert [e["params"]["i"] for e in reg.audit_log(device="CP-2")] == [1, 2]
        assert [e["params"]["i"] for e in reg.audit_log(actor="alice")] == [0, 2]
        assert [e["params"]["i"] for e in reg.audit_log(limit=2)] == [2, 3]
        entry = reg.audit_log(actor="hub")[0]
        assert entry | {"id": 0} == {
            "id": 0,
            "at": 3.0,
            "actor": "hub",
            "role": "engineer",
            "device": None,
            "action": "Reset",
            "params": {"i": 3},
            "outcome": "ok",
            "detail": None,
        }
        with pytest.raises(InvalidInput, match="audit limit must be"):
            reg.audit_log(limit=0)
        for statement in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                with reg._db.write() as conn:
                    conn.execute(statement)
        assert len(reg.audit_log()) == 4


def test_everything_survives_a_restart(tmp_path):
    with open_registry(tmp_path) as reg:
        secret = reg.add_device("CP-17", profile="ocpp16", security_profile=2, groups=["g"])
        reg.online("CP-17", at=5.0, remote="r", security_profile=2)
        reg.boot("CP-17", at=5.0, vendor="ACME", model="X")
        reg.add_id_tag("TAG1")
        reg.queue("CP-17", at=5.0, expires_at=50.0, operator="alice", role=None, command="Reset", params={})
        reg.audit(at=5.0, actor="alice", role=None, device="CP-17", action="Reset", outcome="queued")
    with Registry.open(tmp_path / "hub.db", create=False) as reg:
        record = reg.device("CP-17")
        assert (record.groups, record.online, record.vendor, record.queued) == (("g",), True, "ACME", 1)
        assert reg.check_secret("CP-17", secret)
        assert reg.id_tag_status("TAG1") == "Accepted"
        assert reg.audit_log()[0]["outcome"] == "queued"
        assert reg.all_offline(at=6.0) == 1


def test_a_devices_standing_is_read_from_memory_and_follows_every_writer(tmp_path):
    """Admission asks for the standing on every connection: one pragma while
    nobody changed it; this process's changes and another connection's commits
    are seen at the next lookup."""
    from wsctl.registry.standing import Standing

    with open_registry(tmp_path) as reg, open_registry(tmp_path) as other:
        assert reg.standing("CP-17") is None
        reg.add_device("CP-17", profile="ocpp16", security_profile=2)
        assert reg.standing("CP-17") == Standing("ocpp16", 2, "approved")
        statements: list[str] = []
        reg._db._conn.set_trace_callback(statements.append)
        assert reg.standing("CP-17") == Standing("ocpp16", 2, "approved")
        assert statements == ["PRAGMA data_version"]
        reg._db._conn.set_trace_callback(None)
        reg.set_status("CP-17", "blocked")
        assert reg.standing("CP-17").status == "blocked"
        other.set_status("CP-17", "approved")
        assert reg.standing("CP-17").status == "approved"
        other.remove("CP-17")
        assert reg.standing("CP-17") is None
        other.add_device("CP-17", profile="ocpp201")
        assert reg.standing("CP-17") == Standing("ocpp201", 3, "approved")
        reg.remove("CP-17")
        assert reg.standing("CP-17") is None and other.standing("CP-17") is None
        reg.add_pending("CP-9", profile="ocpp16", security_profile=3, remote="r", fingerprint=None, at=1)
        assert other.standing("CP-9") == Standing("ocpp16", 3, "pending")


def test_offline_keeps_the_last_seen_time_given_with_it_and_queue_probes(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("CP-17", profile="ocpp16")
        reg.online("CP-17", at=10, remote="a", security_profile=3)
        assert reg.offline("CP-17", at=30, reason="closed 1000", last_seen=25)
        record = reg.device("CP-17")
        assert (record.online, record.since, record.last_seen) == (False, 30, 25)
        reg.online("CP-17", at=40, remote="a", security_profile=3)
        reg.seen_many([("CP-17", 50)])
        assert reg.offline("CP-17", at=60, reason="closed 1000", last_seen=45)  # older than what is there
        assert reg.device("CP-17").last_seen == 50
        assert reg.has_due("CP-17", at=60) is False
        reg.queue("CP-17", at=60, expires_at=70, operator="a", role=None, command="Reset", params={})
        assert reg.has_due("CP-17", at=65) and not reg.has_due("CP-17", at=70)
        assert reg.queued_total() == 1 == reg.device("CP-17").queued


def test_profile_names_are_those_of_the_registered_devices(tmp_path):
    with open_registry(tmp_path) as reg:
        assert reg.profile_names() == set()
        for name, profile in (("a", "ocpp16"), ("b", "ocpp201"), ("c", "ocpp16")):
            reg.add_device(name, profile=profile)
        assert reg.profile_names() == {"ocpp16", "ocpp201"}
