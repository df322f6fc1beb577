"""AsyncAPI 3.0 export: every shipped profile's document validates against the
official schema, its internal references resolve, and it says what the profile
says (subprotocol, roles, danger, correlation, units)."""

from __future__ import annotations

import json
import re

import pytest
from profile_helpers import REPO, SHIPPED

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.profile.asyncapi import to_asyncapi
from wsctl.files.profiles import load_profile

# vendored, Apache-2.0: see NOTICE and LICENSE next to it
SCHEMA = REPO / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def validator():
    import jsonschema  # the test extra

    schema = json.loads(SCHEMA.read_text())
    # the published schema is draft-07 with internal $refs only
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _doc(name, **kw):
    return to_asyncapi(load_profile(name, cwd=REPO / "tests", environ={"HOME": "/nonexistent"}), **kw)


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@pytest.mark.parametrize("name", SHIPPED)
def test_export_validates_against_the_official_schema(validator, name):
    doc = _doc(name)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    # the schema cannot check that references point somewhere: check it here
    for ref in _refs(doc):
        assert ref.startswith("#/") and resolve(doc, ref[1:]) is not MISSING, ref
    # every message of every operation is a message of its channel
    for op in doc["operations"].values():
        for ref in op["messages"] + op.get("reply", {}).get("messages", []):
            assert ref["$ref"].startswith("#/channels/device/messages/")


def test_the_validator_can_fail(validator):
    doc = _doc("conveyor")
    del doc["servers"]["device"]["protocol"]
    doc["operations"]["send.start"]["action"] = "publish"  # AsyncAPI 2 wording
    assert len(list(validator.iter_errors(doc))) >= 2


def test_conveyor_document_says_what_the_profile_says():
    doc = _doc("conveyor", server_url="wss://plc-17.plant.local:8443/rpc")
    assert doc["servers"]["device"] | {"security": None} == {
        "protocol": "wss",
        "host": "plc-17.plant.local:8443",
        "pathname": "/rpc",
        "security": None,
        "description": "The device; wsctl dials it",
        "x-wsctl-dialer": "tool",
    }
    channel = doc["channels"]["device"]
    assert channel["bindings"]["ws"]["headers"]["properties"]["Sec-WebSocket-Protocol"]["enum"] == ["conveyor.v1"]
    assert channel["x-wsctl-subprotocols"] == ["conveyor.v1"]
    assert doc["components"]["correlationIds"]["id"]["location"] == "$message.payload#/id"
    set_speed = doc["operations"]["send.set_speed"]
    assert (
        set_speed["action"] == "send"
        and set_speed["x-wsctl-roles"] == ["engineer+"]
        and set_speed["x-wsctl-dangerous"] is False
    )
    assert [m["$ref"].rsplit("/", 1)[1] for m in set_speed["reply"]["messages"]] == ["command.set_speed.reply", "error"]
    estop = doc["operations"]["send.estop"]
    assert estop["x-wsctl-dangerous"] is True and estop["x-wsctl-roles"] == ["*"] and "x-wsctl-confirm" in estop
    request = channel["messages"]["command.set_speed"]["payload"]
    assert request["properties"]["method"] == {"const": "conveyor.set_speed"}
    assert request["properties"]["params"]["properties"]["speed"] == {
        "type": "integer",
        "description": "Belt speed",
        "minimum": 0,
        "maximum": 3000,
        "x-unit": "mm/s",
    }
    assert request["properties"]["params"]["required"] == ["speed"]
    telemetry = channel["messages"]["event.telemetry"]["payload"]
    assert (
        "id" not in telemetry["properties"]
        and telemetry["properties"]["params"]["properties"]["motor_temp"]["x-unit"] == "°C"
    )
    assert doc["operations"]["receive.telemetry"]["action"] == "receive"


def test_ocpp_document_correlates_on_the_second_element():
    doc = _doc("ocpp16-charger")
    assert doc["components"]["correlationIds"]["id"]["location"] == "$message.payload#/1"
    messages = doc["channels"]["device"]["messages"]
    call = messages["command.remote_start"]["payload"]
    assert call["items"][0] == {"const": 2} and call["items"][2] == {"const": "RemoteStartTransaction"}
    assert call["items"][3]["required"] == ["idTag"]  # connectorId is optional
    assert messages["command.reset.reply"]["x-wsctl-success"] == {"/status": "Accepted"}
    boot_reply = messages["event.boot.reply"]["payload"]
    assert boot_reply["items"][0] == {"const": 3}
    assert boot_reply["items"][2]["properties"]["currentTime"] == {"type": "string", "format": "date-time"}
    assert doc["operations"]["receive.boot"]["reply"]["messages"] == [
        {"$ref": "#/channels/device/messages/event.boot.reply"}
    ]
    assert doc["servers"]["device"]["x-wsctl-dialer"] == "device"


def test_text_document_has_patterns_a_javascript_regex_engine_accepts():
    doc = _doc("psu")
    messages = doc["channels"]["device"]["messages"]
    volt = messages["command.set_voltage"]["payload"]["pattern"]
    assert re.fullmatch(volt, "VOLT 12.5") and not re.fullmatch(volt, "VOLT twelve")
    assert re.fullmatch(messages["command.output"]["payload"]["pattern"], "OUTP ON")
    assert re.fullmatch(messages["command.identify"]["payload"]["pattern"], "*IDN?")
    for msg in messages.values():
        pattern = msg["payload"].get("pattern", "")
        assert "(?P<" not in pattern  # Python-only syntax; ECMA-262 spells it (?<name>
    assert "correlationIds" not in doc["components"] and doc["defaultContentType"] == "text/plain"


def test_bad_server_url():
    with pytest.raises(InvalidInput, match="expected wss://"):
        _doc("conveyor", server_url="ws://plain/rpc")
