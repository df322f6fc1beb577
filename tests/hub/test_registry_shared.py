"""One registry for the site, the registry's part (wsctl.registry.shared): the
outbox every local change goes to, the records a hub publishes, and taking
other hubs' records, newest wins.  Real SQLite files."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from registry_helpers import open_registry

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.schema import MIGRATIONS
from wsctl.core.hub.topics import tag_level
from wsctl.registry import Registry
from wsctl.registry.secret_hash import hash_secret
from wsctl.registry.shared import MAX_CLOCK_AHEAD, SharedRecord, SharedTag, parse_record, parse_tag

ME = "hub-a"
NOW = time.time()


def _record(device="CP-1", updated=None, by="hub-b", **fields) -> SharedRecord:
    values = {"profile": "ocpp16", "security_profile": 3, "status": "approved", "groups": ()}
    values.update(fields)
    values["groups"] = tuple(sorted(values["groups"]))
    return SharedRecord(device, NOW + 10 if updated is None else updated, by, **values)


def _devices_in_outbox(reg: Registry) -> list[str]:
    return [key for kind, key, _ in reg.unpublished() if kind == "device"]


def D(device: str) -> tuple[str, str]:
    return ("device", device)


def test_every_local_change_of_what_admits_a_device_waits_in_the_outbox_once(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16", groups=["depot-a"])
    reg.add_device("CP-2", profile="ocpp16", security_profile=2, secret="s" * 20)
    assert _devices_in_outbox(reg) == ["CP-1", "CP-2"]
    reg.published(reg.unpublished())
    assert reg.unpublished() == []
    reg.set_status("CP-1", "blocked")
    reg.set_secret("CP-2")
    reg.remove("CP-1")
    assert _devices_in_outbox(reg) == ["CP-2", "CP-1"]  # once each, in the order of their last change
    gone = reg.shared_record("CP-1", ME)
    assert gone is not None and gone.removed and gone.by == ME
    kept = reg.shared_record("CP-2", ME)
    assert kept is not None and kept.secret_hash and kept.secret_hash.startswith("$scrypt$")
    assert reg.shared_record("CP-9", ME) is None


def test_what_the_hub_sees_for_itself_does_not_reach_the_outbox(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16")
    reg.published(reg.unpublished())
    reg.online("CP-1", at=NOW, remote="127.0.0.1:1", security_profile=3)
    reg.boot("CP-1", at=NOW, vendor="V", model="M", firmware="1", serial="S")
    reg.set_status("CP-1", "approved")  # the same status again
    assert reg.unpublished() == []


def test_a_change_made_while_publishing_stays_in_the_outbox(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16")
    read = reg.unpublished()
    reg.set_status("CP-1", "blocked")  # after the hub read the outbox, before it said published
    reg.published(read)
    assert _devices_in_outbox(reg) == ["CP-1"]


def test_a_newer_record_is_taken_with_its_groups_and_secret_and_not_published_back(tmp_path):
    reg = open_registry(tmp_path)
    secret = hash_secret("t" * 20)
    record = _record("CP-7", security_profile=2, secret_hash=secret, groups=("b", "a"), status="pending")
    assert reg.take_shared([record], ME) == ([D("CP-7")], [])
    found = reg.device("CP-7")
    assert found is not None and found.status == "pending" and found.groups == ("a", "b") and found.has_secret
    assert reg.unpublished() == []  # it came from the broker: never put back on it
    assert reg.check_secret("CP-7", "t" * 20)
    assert reg.shared_record("CP-7", ME) == record
    assert reg.standing("CP-7").status == "pending"
    reg.take_shared([_record("CP-7", updated=NOW + 20, status="approved")], ME)
    assert reg.standing("CP-7").status == "approved"  # the cached standing was forgotten


def test_an_older_or_equal_record_is_not_taken_and_an_older_one_is_reported(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16", at=NOW)
    older = _record("CP-1", updated=NOW - 100, status="blocked")
    assert reg.take_shared([older], ME) == ([], [D("CP-1")])
    assert reg.device("CP-1").status == "approved"
    same = reg.shared_record("CP-1", ME)
    assert reg.take_shared([same], ME) == ([], [])


def test_ties_go_to_the_larger_hub_id(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16", at=NOW)
    assert reg.take_shared([_record("CP-1", updated=NOW, by="hub-0", status="blocked")], ME)[0] == []
    assert reg.take_shared([_record("CP-1", updated=NOW, by="hub-z", status="blocked")], ME)[0] == [D("CP-1")]


def test_a_removal_is_a_tombstone_that_an_older_copy_cannot_undo(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16", at=NOW)
    reg.queue("CP-1", at=NOW, expires_at=NOW + 60, operator="alice", role="engineer", command="reset", params={})
    removal = SharedRecord("CP-1", NOW + 5, "hub-b", removed=True)
    assert reg.take_shared([removal], ME) == ([D("CP-1")], [])
    assert reg.device("CP-1") is None and reg.standing("CP-1") is None
    assert reg.take_shared([_record("CP-1", updated=NOW + 1)], ME)[0] == []
    assert reg.device("CP-1") is None
    assert reg.take_shared([_record("CP-1", updated=NOW + 9)], ME)[0] == [D("CP-1")]  # added again, later
    assert reg.device("CP-1") is not None


def test_records_of_one_batch_for_one_device_end_at_the_newest(tmp_path):
    reg = open_registry(tmp_path)
    batch = [_record("CP-1", updated=NOW + 3, status="blocked"), _record("CP-1", updated=NOW + 1, status="pending")]
    taken, _ = reg.take_shared(batch, ME)
    assert taken == [D("CP-1")] and reg.device("CP-1").status == "blocked"


def test_a_local_change_after_a_taken_record_is_published_as_this_hubs(tmp_path):
    reg = open_registry(tmp_path)
    reg.take_shared([_record("CP-1", updated=NOW - 10)], ME)
    reg.set_status("CP-1", "blocked")
    mine = reg.shared_record("CP-1", ME)
    assert mine.by == ME and mine.updated > NOW - 10 and _devices_in_outbox(reg) == ["CP-1"]


def test_publish_again_puts_a_device_back_in_the_outbox(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_device("CP-1", profile="ocpp16")
    reg.published(reg.unpublished())
    reg.publish_again([D("CP-1")])
    assert _devices_in_outbox(reg) == ["CP-1"]


def test_a_registry_from_before_sharing_has_all_its_devices_in_the_outbox(tmp_path):
    path = tmp_path / "old.db"
    old = Registry.open(path, migrations=MIGRATIONS[:2])
    old.add_device("CP-1", profile="ocpp16")
    old.add_device("CP-2", profile="ocpp201")
    old.add_id_tag("04E91C2A")
    old.close()
    reg = Registry.open(path)
    assert sorted(_devices_in_outbox(reg)) == ["CP-1", "CP-2"]
    assert T("04E91C2A") in [(k, key) for k, key, _ in reg.unpublished()]
    # rows from before sharing are version 0: any change made since, on any hub, wins
    assert reg.shared("id-tag", "04E91C2A", ME).updated == 0 and reg.shared_record("CP-1", ME).updated == 0
    assert reg.take_shared([_record("CP-1", updated=1.0, status="pending")], ME)[0] == [D("CP-1")]
    assert reg.shared_record("CP-2", ME).profile == "ocpp201"


def test_two_registries_from_before_sharing_that_disagree_keep_the_more_restrictive(tmp_path):
    """Both version 0 (migrated): a block made on one hub before the upgrade is
    not lost to whichever hub migrated last, whatever their ids."""
    path = tmp_path / "old.db"
    old = Registry.open(path, migrations=MIGRATIONS[:2])
    old.add_device("CP-2", profile="ocpp16")
    old.add_device("CP-3", profile="ocpp16", status="blocked")
    old.add_id_tag("04E91C2A", status="Blocked")
    old.close()
    reg = Registry.open(path)
    assert reg.take_shared([_record("CP-2", updated=0.0, by="hub-0", status="blocked")], ME) == ([D("CP-2")], [])
    assert reg.device("CP-2").status == "blocked"
    assert reg.take_shared([_record("CP-3", updated=0.0, by="hub-z")], ME) == ([], [D("CP-3")])
    assert reg.device("CP-3").status == "blocked"  # ours is the restrictive one: kept, and published again
    tag = SharedTag("04E91C2A", 0.0, "hub-z", status="Accepted")
    assert reg.take_shared([tag], ME) == ([], [T("04E91C2A")]) and reg.id_tag_status("04E91C2A") == "Blocked"


def test_a_local_change_is_dated_after_the_version_it_replaces_even_when_the_clock_is_behind(tmp_path):
    """Another hub's clock runs 100 s ahead: a block made here after taking its
    record must still win over that record everywhere."""
    reg = open_registry(tmp_path)
    ahead = time.time() + 100
    reg.take_shared([_record("CP-1", updated=ahead, by="hub-c")], ME)
    reg.set_status("CP-1", "blocked")
    mine = reg.shared_record("CP-1", ME)
    assert mine.by == ME and mine.updated > ahead
    reg.remove("CP-1")
    gone = reg.shared_record("CP-1", ME)
    assert gone.removed and gone.updated > mine.updated
    reg.add_device("CP-1", profile="ocpp16")  # added again after the tombstone: dated after it
    assert reg.shared_record("CP-1", ME).updated > gone.updated
    reg.take_shared([SharedTag("T1", ahead, "hub-c", status="Accepted")], ME)
    reg.add_id_tag("T1", status="Blocked")
    assert reg.shared("id-tag", "T1", ME).updated > ahead


def test_publish_missing_puts_back_what_the_broker_did_not_send(tmp_path):
    reg = open_registry(tmp_path)
    for name in ("CP-1", "CP-2", "CP-3"):
        reg.add_device(name, profile="ocpp16")
    reg.add_id_tag("T1")
    reg.remove("CP-3")
    reg.published(reg.unpublished())
    assert reg.publish_missing({D("CP-1")}) == 3  # CP-2, the tombstone of CP-3, and T1
    assert sorted((k, key) for k, key, _ in reg.unpublished()) == [D("CP-2"), D("CP-3"), T("T1")]
    assert reg.publish_missing(set()) == 1  # CP-1; the rest are in the outbox already


# -- id tags ------------------------------------------------------------------------


def T(tag: str) -> tuple[str, str]:
    return ("id-tag", tag)


def test_id_tag_changes_wait_in_the_outbox_and_are_shared_with_their_expiry(tmp_path):
    reg = open_registry(tmp_path)
    reg.add_id_tag("04E91C2A")
    reg.add_id_tag("VISITOR 7", expires=NOW + 3600)
    assert [(k, key) for k, key, _ in reg.unpublished()] == [T("04E91C2A"), T("VISITOR 7")]
    reg.published(reg.unpublished())
    reg.add_id_tag("04E91C2A")  # the same again: nothing changed, nothing to publish
    assert reg.unpublished() == []
    reg.add_id_tag("04E91C2A", status="Blocked")  # a lost card
    reg.remove_id_tag("VISITOR 7")
    assert [key for _, key, _ in reg.unpublished()] == ["04E91C2A", "VISITOR 7"]
    assert reg.shared("id-tag", "04E91C2A", ME).status == "Blocked"
    assert reg.shared("id-tag", "VISITOR 7", ME).removed


def test_a_newer_id_tag_is_taken_and_a_removal_holds_against_an_older_copy(tmp_path):
    reg = open_registry(tmp_path)
    card = SharedTag("04E91C2A", NOW + 5, "hub-b", status="Accepted", expires=NOW + 99)
    assert reg.take_shared([card], ME) == ([T("04E91C2A")], [])
    assert reg.id_tag_status("04E91C2A", at=NOW) == "Accepted" and reg.unpublished() == []
    assert reg.take_shared([SharedTag("04E91C2A", NOW + 9, "hub-b", removed=True)], ME)[0] == [T("04E91C2A")]
    assert reg.id_tag_status("04E91C2A", at=NOW) == "Invalid"
    assert reg.take_shared([card], ME)[0] == []  # older than the removal
    assert reg.id_tag_status("04E91C2A", at=NOW) == "Invalid"


def test_a_tag_is_its_own_topic_level_when_it_can_be_one():
    assert tag_level("04E91C2A") == "04E91C2A"
    for odd in ("VISITOR 7", "a/b", "#", "x-1", "é"):
        level = tag_level(odd)
        assert level.startswith("x-") and len(level) == 42 and level != tag_level(odd + "!")


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"v": 1, "id_tag": "ABC", "updated": NOW, "by": "hub-b", "status": "Root"}, "status must be"),
        ({"v": 1, "id_tag": "ABC", "updated": NOW, "by": "hub-b", "status": "Accepted", "expires": "x"}, "expires"),
        ({"v": 1, "id_tag": "ABD", "updated": NOW, "by": "hub-b", "status": "Accepted"}, "not the one of its topic"),
        ({"v": 1, "id_tag": "", "updated": NOW, "by": "hub-b", "status": "Accepted"}, "id tag must be"),
        (
            {"v": 1, "id_tag": "ABC", "updated": NOW, "by": "hub-b", "status": "Accepted", "expires": math.nan},
            "expires",
        ),
        (
            {"v": 1, "id_tag": "ABC", "updated": NOW, "by": "hub-b", "status": "Accepted", "expires": 10**400},
            "expires",
        ),
    ],
)
def test_a_bad_id_tag_record_is_refused(doc, words):
    with pytest.raises(InvalidInput, match=words):
        parse_tag(doc, "ABC", now=NOW)


@settings(max_examples=300, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "v": st.just(1) | st.integers(),
            "id_tag": st.just("ABC") | st.text(max_size=40),
            "updated": st.floats() | st.just(NOW),
            "by": st.just("hub-b") | st.text(max_size=5),
            "removed": st.booleans(),
            "status": st.sampled_from(["Accepted", "Blocked", "Expired", "x"]),
            "expires": st.none() | st.floats() | st.text(max_size=3),
        },
    )
)
def test_fuzz_an_id_tag_record_parses_to_a_checked_tag_or_is_refused(doc):
    try:
        tag = parse_tag(doc, "ABC", now=NOW)
    except InvalidInput:
        return
    assert tag.tag == "ABC" and parse_tag(tag.as_doc(), "ABC", now=NOW) == tag


# -- records from the broker are untrusted -------------------------------------------


def _doc(**changes):
    doc = _record("CP-1").as_doc()
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (_doc(v=2), "version 1"),
        (_doc(device="CP-2"), "its topic"),
        (_doc(updated="soon"), "'updated'"),
        (_doc(updated=math.inf), "'updated'"),
        (_doc(updated=True), "'updated'"),
        (_doc(updated=10**400), "'updated'"),
        (_doc(updated=-1), "'updated'"),
        (_doc(profile="/etc/wsctl/../../tmp/x.toml"), "not a profile name"),
        (_doc(profile="mine.toml"), "not a profile name"),
        (_doc(profile="profiles/x"), "not a profile name"),
        (_doc(updated=NOW + MAX_CLOCK_AHEAD + 60), "ahead of this hub's clock"),
        (_doc(by=...), "'by'"),
        (_doc(by="hub/a"), "device id"),
        (_doc(profile=""), "profile name"),
        (_doc(security_profile=4), "security profile"),
        (_doc(status="root"), "device status"),
        (_doc(groups="all"), "groups"),
        (_doc(groups=["ok", 3]), "groups"),
        (_doc(groups=["a b"]), "group"),
        (_doc(secret_hash="hunter2"), "scrypt"),
        (_doc(secret_hash="$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43), "scrypt"),
        (_doc(secret_hash=hash_secret("u" * 20)), "security profile 3"),
        ([1, 2], "version 1"),
    ],
)
def test_a_bad_record_is_refused_with_what_is_wrong(doc, words):
    with pytest.raises(InvalidInput, match=words):
        parse_record(doc, "CP-1", now=NOW)


def test_a_good_record_and_a_removal_parse_back():
    record = _record("CP-1", security_profile=2, secret_hash=hash_secret("v" * 20), groups=("x",))
    assert parse_record(record.as_doc(), "CP-1", now=NOW) == record
    removal = SharedRecord("CP-1", NOW, "hub-b", removed=True)
    assert parse_record(removal.as_doc(), "CP-1", now=NOW) == removal


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "v": st.just(1) | _json,
        "device": st.just("CP-1") | _json,
        "updated": st.floats() | st.integers() | _json,
        "by": st.just("hub-b") | _json,
        "removed": st.booleans() | _json,
        "profile": st.just("ocpp16") | _json,
        "security_profile": st.sampled_from([1, 2, 3]) | _json,
        "status": st.sampled_from(["approved", "pending", "blocked"]) | _json,
        "secret_hash": st.none() | _json,
        "groups": st.lists(st.text(max_size=8), max_size=3) | _json,
    },
)


@settings(max_examples=400, deadline=None)
@given(doc=_fields | _json)
def test_fuzz_a_record_parses_to_a_checked_record_or_is_refused(doc):
    try:
        record = parse_record(doc, "CP-1", now=NOW)
    except InvalidInput:
        return
    assert record.device == "CP-1" and math.isfinite(record.updated)
    assert parse_record(record.as_doc(), "CP-1", now=NOW) == record


def test_a_long_plain_profile_name_is_shared_as_a_registry_holds_it():
    name = "p" * 120  # the registry's limit is 128, the device id rule's 64
    assert parse_record(_record("CP-1", profile=name).as_doc(), "CP-1", now=NOW).profile == name
