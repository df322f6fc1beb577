"""The topic tree and payload shapes (wsctl.core.hub.topics), pure."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsctl.core.errors import InvalidInput
from wsctl.core.hub import topics

TREE = topics.Tree("plant-1")


def test_the_documented_topics():
    assert TREE.hub_state("hub-a") == "wsctl/v1/plant-1/hubs/hub-a/state"
    assert TREE.call("hub-b", "hub-a") == "wsctl/v1/plant-1/hubs/hub-b/calls/hub-a"
    assert TREE.reply("hub-a", "hub-b") == "wsctl/v1/plant-1/hubs/hub-a/replies/hub-b"
    assert TREE.device_state("CP-17") == "wsctl/v1/plant-1/devices/CP-17/state"
    assert TREE.device_message("CP-17", "events", "MeterValues") == "wsctl/v1/plant-1/devices/CP-17/events/MeterValues"
    assert TREE.command("CP-17") == "wsctl/v1/plant-1/devices/CP-17/cmd"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "plant#1", "a+b", "..", "-x", "x" * 65, "sp ace", "nul\0"])
def test_a_name_that_would_break_the_tree_is_refused(bad):
    with pytest.raises(InvalidInput):
        topics.Tree(bad)
    with pytest.raises(InvalidInput):
        TREE.device_state(bad)
    with pytest.raises(InvalidInput, match="hub id"):
        topics.check_level(bad, "hub id")


@pytest.mark.parametrize("name", [None, "", "a/b", "#", "Meter+Values", "x" * 65])
def test_a_message_name_unfit_for_a_level_goes_to_unknown(name):
    assert TREE.device_message("CP-1", "events", name).endswith("/CP-1/events/unknown")


def test_parse_knows_each_kind_and_nothing_else():
    assert TREE.parse("wsctl/v1/plant-1/hubs/hub-a/state") == ("hub-state", "hub-a")
    assert TREE.parse("wsctl/v1/plant-1/devices/CP-1/state") == ("device-state", "CP-1")
    assert TREE.parse("wsctl/v1/plant-1/devices/CP-1/cmd") == ("cmd", "CP-1")
    assert TREE.parse("wsctl/v1/plant-1/hubs/hub-b/calls/hub-a") == ("call", "hub-b", "hub-a")
    assert TREE.parse("wsctl/v1/plant-1/hubs/hub-a/replies/hub-b") == ("reply", "hub-a", "hub-b")
    for other in (
        "wsctl/v1/plant-2/hubs/hub-a/state",
        "wsctl/v2/plant-1/hubs/hub-a/state",
        "wsctl/v1/plant-1/devices/CP-1/events/BootNotification",
        "wsctl/v1/plant-1/devices/CP-1/cmd/extra",
        "wsctl/v1/plant-1/devices//cmd",
        "wsctl/v1/plant-1/hubs/hub-a/calls/",
        "wsctl/v1/plant-1/hubs/../state",
    ):
        assert TREE.parse(other) is None, other


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_a_topic_built_from_any_valid_id_parses_back_to_it(text):
    try:
        topics.check_level(text, "device id")
    except InvalidInput:
        return
    assert TREE.parse(TREE.device_state(text)) == ("device-state", text)
    assert TREE.parse(TREE.command(text)) == ("cmd", text)
    assert TREE.device_state(text).count("/") == 5


def test_payloads_carry_their_version_and_the_raw_frame():
    doc = topics.device_message(
        "CP-1", "hub-a", at="T", kind="request", name="MeterValues", payload={"a": 1}, raw='[2,"1"]'
    )
    assert doc["v"] == 1 and doc["raw"] == '[2,"1"]' and doc["payload"] == {"a": 1}
    binary = topics.device_message("CP-1", "hub-a", at="T", kind="telemetry", name=None, payload=None, raw=b"\x00\xff")
    assert binary["raw_base64"] == "AP8=" and "raw" not in binary
    will = topics.hub_state("hub-a", online=False, at=None, reason="connection lost (Last Will)")
    assert json.loads(topics.encode(will)) == {
        "v": 1,
        "hub": "hub-a",
        "online": False,
        "since": None,
        "reason": "connection lost (Last Will)",
    }


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b"\xff", "not JSON"),
        (b"{" + b" " * topics.MAX_PAYLOAD + b"}", "more than"),
    ],
)
def test_decode_refuses_with_one_line(payload, words):
    with pytest.raises(InvalidInput, match=words):
        topics.decode(payload)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({}, "without a device"),
        ({"device": "a/b", "command": "reset"}, "contains '/'"),
        ({"device": "CP-1"}, '"command"'),
        ({"device": "CP-1", "command": "reset", "params": [1]}, '"params"'),
        ({"device": "CP-1", "command": "reset", "operator": ""}, '"operator"'),
        ({"device": "CP-1", "command": "reset", "role": 3}, '"role"'),
        ({"device": "CP-1", "command": "reset", "timeout": -1}, '"timeout"'),
        ({"device": "CP-1", "command": "reset", "timeout": True}, '"timeout"'),
    ],
)
def test_a_malformed_call_names_what_is_wrong(doc, words):
    with pytest.raises(InvalidInput, match=words):
        topics.parse_call(doc)


def test_a_plant_tools_command_takes_its_device_from_the_topic():
    request = topics.parse_call({"device": "CP-9", "command": "reset", "params": {"type": "Soft"}}, "CP-1")
    assert request.device == "CP-1" and request.params == {"type": "Soft"} and request.role is None


@pytest.mark.parametrize("levels", [("plant-tool", "1"), ("plant-tool",), ("a", "b", "c", "d", "e", "f", "g", "h")])
def test_a_response_topic_under_replies_with_valid_levels_is_a_reply_topic(levels):
    assert TREE.is_reply_topic("/".join((TREE.base, "replies", *levels)))


@pytest.mark.parametrize(
    "topic",
    [
        "wsctl/v1/plant-1/hubs/hub-a/state",
        "wsctl/v1/plant-1/devices/CP-2/state",
        "wsctl/v1/plant-1/devices/CP-2/telemetry/MeterValues",
        "wsctl/v1/plant-1/registry/devices/CP-2",
        "wsctl/v1/plant-1/hubs/hub-a/replies/hub-b",
        "wsctl/v1/plant-2/replies/plant-tool/1",  # another site's
        "wsctl/v1/plant-1/replies",
        "wsctl/v1/plant-1/replies/",
        "wsctl/v1/plant-1/replies/plant-tool//1",
        "wsctl/v1/plant-1/replies/plant-tool/+",
        "wsctl/v1/plant-1/replies/plant-tool/#",
        "wsctl/v1/plant-1/replies/a b",
        "wsctl/v1/plant-1/replies/" + "x" * 65,
        "wsctl/v1/plant-1/replies/" + "/".join("x" * 9),
    ],
)
def test_anything_else_is_not_a_reply_topic(topic):
    assert not TREE.is_reply_topic(topic)


def test_a_state_must_be_the_state_of_its_topics_hub_or_device():
    hub = topics.hub_state("hub-a", online=True, at=None)
    assert topics.state_problem(hub, "hub", "hub-a") is None
    assert "hub-b" in str(topics.state_problem(hub, "hub", "hub-b"))
    device = topics.device_state("CP-2", "hub-b", online=False, at="2026-12-02T00:00:00Z")
    assert topics.state_problem(device, "device", "CP-2") is None
    assert topics.state_problem(device, "device", "CP-9") is not None
    reply = {"v": 1, "hub": "hub-a", "outcome": "ok", "payload": {}}  # a reply sent where a state goes
    assert "online" in str(topics.state_problem(reply, "hub", "hub-a"))
    assert topics.state_problem({**device, "online": "yes"}, "device", "CP-2") is not None
