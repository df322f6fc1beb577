"""The proxy's gate as pure logic: what has one reading, what has several."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsctl.core.gate import Gate, read_json, text_problems
from wsctl.core.profile.device_side import BadRequest, DeviceCodec
from wsctl.files.profiles import load_profile


@pytest.fixture(scope="module")
def conveyor():
    return load_profile("conveyor")


def test_duplicates_are_found_at_any_depth_and_across_case():
    assert read_json('{"a":[{"b":1,"b":2}]}')[1] == ["duplicate key 'b'"]
    assert read_json('{"p":{"Speed":1,"speed":2}}')[1] == ["keys 'Speed' and 'speed' differ only in case"]
    assert read_json('{"m\\u0065thod":1,"method":2}')[1] == ["duplicate key 'method'"]  # escapes are read first
    assert read_json('{"a":"x\\ud800"}')[1] == ["a string holds NUL or an unpaired surrogate"]
    assert read_json("[Infinity]")[1] == ["Infinity is not JSON"]
    assert read_json("[" * 100000 + "]" * 100000)[1] == ["nested too deeply"]
    with pytest.raises(ValueError):
        read_json('{"a":1}{"b":2}')


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_what_json_dumps_writes_has_one_reading_unless_keys_collide_in_case(doc):
    text = json.dumps(doc)
    # only a case-only pair of keys, a NUL or a lone surrogate makes two readings
    assert all("differ only in case" in p or "NUL" in p for p in read_json(text)[1])


def test_text_framing_allows_one_line_terminator_only():
    assert text_problems("VOLT 5", (";",)) == [] and text_problems("VOLT 5\r\n", (";",)) == []
    assert text_problems("VOLT 5\n\n", ()) == ["a line break or control character (U+000A) inside the command"]
    assert text_problems("A\x00B", ()) == ["a line break or control character (U+0000) inside the command"]
    assert text_problems("A\tB", ()) == []
    assert text_problems("A;B", (";",)) == ["the command separator ';'"] and text_problems("A;B", ()) == []


def test_the_text_preset_names_scpis_separator():
    assert load_profile("psu").framing.separators == (";",)
    assert load_profile("conveyor").framing.separators == ()


def test_kinds_read_every_rule_not_only_the_first(conveyor):
    codec = DeviceCodec(conveyor)
    assert codec.kinds({"jsonrpc": "2.0", "id": 1, "method": "conveyor.status"}) == {"call"}
    assert codec.kinds({"jsonrpc": "2.0", "id": 1, "result": 1}) == {"result"}
    assert codec.kinds({"id": 1, "result": 1, "error": {}}) == {"result", "error"}
    assert codec.kinds({"method": "x", "result": 1}) == {"call", "result"}
    ocpp = DeviceCodec(load_profile("ocpp16-charger"))
    assert ocpp.kinds([3, "id", {"status": "Accepted"}]) == {"result"}  # /2 is a payload here, not a name
    assert ocpp.kinds([2, "id", "Reset", {}]) == {"call"}


def test_binary_frames_are_judged_like_text(conveyor):
    gate = Gate(conveyor, "operator", "engineer")
    refusal = gate.judge(b'{"jsonrpc":"2.0","id":1,"method":"conveyor.status","method":"conveyor.set_speed"}')
    assert refusal is not None and refusal.reason == "ambiguous"
    assert gate.judge(b'{"jsonrpc":"2.0","id":2,"method":"conveyor.status"}') is None
    assert gate.judge(b"\xff").reason == "role"  # not UTF-8: unattributable, below the proxy's role


def test_an_answer_picks_no_reading_of_a_disputed_id(conveyor):
    gate = Gate(conveyor, "engineer", "engineer")
    refusal = gate.judge('{"jsonrpc":"2.0","id":1,"method":"conveyor.status","id":2}')
    assert json.loads(refusal.reply)["id"] is None
    refusal = gate.judge('{"jsonrpc":"2.0","id":3,"method":"conveyor.status","result":0}')
    assert json.loads(refusal.reply)["id"] == 3


def test_the_simulators_codec_answers_deep_nesting_with_a_parse_error(conveyor):
    item = DeviceCodec(conveyor).parse("[" * 100000)
    assert isinstance(item, BadRequest) and item.kind == "parse" and "nested too deeply" in item.reason


def test_ordinary_ocpp_traffic_passes_and_a_duplicate_in_the_payload_does_not():
    gate = Gate(load_profile("ocpp16-charger"), "operator", "engineer")
    assert gate.judge('[2,"a1","RemoteStopTransaction",{"transactionId":7}]') is None
    assert gate.judge('[3,"dev-1",{"currentTime":"2024-06-10T06:13:20Z"}]') is None  # answering the device's call
    refusal = gate.judge('[2,"a2","Reset",{"type":"Soft"}]')
    assert refusal.reason == "role" and json.loads(refusal.reply)[2] == "SecurityError"
    refusal = gate.judge('[2,"a3","RemoteStopTransaction",{"transactionId":7,"transactionId":8}]')
    assert refusal.reason == "ambiguous" and json.loads(refusal.reply)[:3] == [4, "a3", "FormationViolation"]
