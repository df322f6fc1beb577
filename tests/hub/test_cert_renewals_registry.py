"""The registry's certificate renewals (schema version 2) on a real SQLite file: a
version-1 registry migrated with its data, the states a renewal goes through, a
late answer that cannot move one back, one open renewal per device, and all of it
after the file is opened again (what a restarted hub resumes from)."""

from __future__ import annotations

import pytest
from registry_helpers import open_registry

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.schema import MIGRATIONS
from wsctl.registry import RenewalRecord
from wsctl.registry.renewals import OPEN_STATES


def test_a_version_1_registry_is_migrated_to_renewals_and_keeps_its_data(tmp_path):
    with open_registry(tmp_path, migrations=MIGRATIONS[:1]) as reg:
        assert reg.schema_version == 1
        reg.add_device("CP-17", profile="ocpp16", groups=["depot"])
        reg.online("CP-17", at=5.0, remote="10.0.0.17:5000", fingerprint="aa", cert_serial=0x1F, security_profile=3)
        reg.audit(at=6.0, actor="sam", role="security-admin", device="CP-17", action="renew", outcome="ok")
        with reg._db.read() as conn:
            assert "renewals" not in {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    with open_registry(tmp_path, migrations=MIGRATIONS[:2]) as reg:
        assert reg.schema_version == 2
        record = reg.device("CP-17")
        assert (record.groups, record.cert_serial, record.online) == (("depot",), "1f", True)
        assert reg.audit_log()[0]["actor"] == "sam"
        assert reg.renewals() == []
        renewal_id = reg.start_renewal("CP-17", at=7.0, state="requested", requested_by="sam")
        assert reg.open_renewal("CP-17").id == renewal_id


def test_a_renewal_goes_through_its_states_and_is_read_back_after_reopening(tmp_path):
    with open_registry(tmp_path) as reg:
        rid = reg.start_renewal("CP-1", at=1.0, state="requested", requested_by="sam")
        assert reg.advance_renewal(rid, at=2.0, state="csr-received", old_serial=0xAB, old_fingerprint="old-fp")
        assert reg.advance_renewal(
            rid, at=3.0, state="signed", detail="serial cd", new_serial=0xCD, new_fingerprint="n"
        )
        assert reg.advance_renewal(rid, at=4.0, state="accepted", only_from=("signed",))
    with open_registry(tmp_path) as reg:  # a restarted hub finds it where it was
        (open_one,) = reg.renewals(open_only=True)
        assert (open_one.state, open_one.old_serial, open_one.new_serial, open_one.detail) == (
            "accepted",
            "ab",
            "cd",
            "serial cd",
        )
        assert reg.advance_renewal(rid, at=5.0, state="seen", only_from=("signed", "accepted"))
        assert reg.advance_renewal(rid, at=6.0, state="renewed", only_from=("seen",), old_revoked=6.0)
        assert reg.open_renewal("CP-1") is None
        (done,) = reg.renewals(device="CP-1")
    assert isinstance(done, RenewalRecord) and not done.open
    assert done.as_dict() == {
        "id": rid,
        "device": "CP-1",
        "state": "renewed",
        "requested_by": "sam",
        "started": "1970-01-01T00:00:01Z",
        "updated": "1970-01-01T00:00:06Z",
        "old_serial": "ab",
        "old_fingerprint": "old-fp",
        "new_serial": "cd",
        "new_fingerprint": "n",
        "old_revoked": "1970-01-01T00:00:06Z",
        "detail": "serial cd",
    }


def test_a_late_answer_never_moves_a_renewal_back_and_an_ended_one_stays_ended(tmp_path):
    with open_registry(tmp_path) as reg:
        rid = reg.start_renewal("CP-1", at=1.0, state="signed")
        assert reg.advance_renewal(rid, at=2.0, state="seen")
        # the station's Accepted arrives after it was seen with the new certificate
        assert not reg.advance_renewal(rid, at=3.0, state="accepted", only_from=("signed",))
        assert reg.open_renewal("CP-1").state == "seen"
        assert reg.advance_renewal(rid, at=4.0, state="renewed")
        assert not reg.advance_renewal(rid, at=5.0, state="failed", detail="too late")
        assert not reg.advance_renewal(9999, at=5.0, state="failed")
        assert reg.renewals()[0].state == "renewed"


def test_a_new_renewal_fails_the_open_one_of_the_same_device_only(tmp_path):
    with open_registry(tmp_path) as reg:
        first = reg.start_renewal("CP-1", at=1.0, state="signed")
        other = reg.start_renewal("CP-2", at=1.0, state="requested")
        second = reg.start_renewal("CP-1", at=2.0, state="csr-received")
        states = {r.id: (r.state, r.detail) for r in reg.renewals()}
    assert states[first] == ("failed", f"replaced by renewal {second}")
    assert states[other] == ("requested", None)
    assert states[second] == ("csr-received", None)


def test_the_operator_of_a_trigger_the_csr_overtook_is_named_once(tmp_path):
    with open_registry(tmp_path) as reg:
        rid = reg.start_renewal("CP-1", at=1.0, state="csr-received")
        assert reg.renewal_requested_by(rid, "sam")
        assert not reg.renewal_requested_by(rid, "mallory")
        assert reg.open_renewal("CP-1").requested_by == "sam"


def test_listing_filters_and_limits_newest_last(tmp_path):
    with open_registry(tmp_path) as reg:
        ids = [reg.start_renewal(f"CP-{i}", at=float(i), state="requested") for i in range(5)]
        reg.advance_renewal(ids[1], at=9.0, state="failed", detail="x")
        assert [r.id for r in reg.renewals(limit=2)] == ids[3:]
        assert [r.device for r in reg.renewals(device="CP-2")] == ["CP-2"]
        assert ids[1] not in [r.id for r in reg.renewals(open_only=True)]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda reg: reg.start_renewal("CP-1", at=1.0, state="done"), "renewal state must be one of"),
        (lambda reg: reg.advance_renewal(1, at=1.0, state="seen", only_from=("renewed",)), "only from its open"),
        (lambda reg: reg.advance_renewal(1, at=1.0, state="seen", secret="x"), "not a renewal field: secret"),
        (lambda reg: reg.renewals(limit=0), "renewals limit must be"),
    ],
)
def test_bad_arguments_are_one_line_invalid_input(tmp_path, call, message):
    with open_registry(tmp_path) as reg, pytest.raises(InvalidInput, match=message):
        call(reg)


def test_the_schema_refuses_a_state_the_code_does_not_know(tmp_path):
    import sqlite3

    with open_registry(tmp_path) as reg, pytest.raises(sqlite3.IntegrityError):
        with reg._db.write() as conn:
            conn.execute("INSERT INTO renewals (device, state, started, updated) VALUES ('CP-1', 'done', 1, 1)")


def test_the_partial_index_of_open_renewals_lists_the_codes_open_states(tmp_path):
    with open_registry(tmp_path) as reg, reg._db.read() as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'renewals_open'").fetchone()
    assert all(f"'{state}'" in sql for state in OPEN_STATES) and "'renewed'" not in sql
