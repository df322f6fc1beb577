"""DeviceCodec: requests read by the profile's templates, every malformed input
answered in the protocol's own error form."""

from __future__ import annotations

import json

import pytest
from sim_profiles import CUSTOM, JSONRPC, OCPP, TEXT, load

from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request, Response


@pytest.fixture
def rpc():
    return DeviceCodec(load(JSONRPC))


@pytest.fixture
def ocpp():
    return DeviceCodec(load(OCPP))


@pytest.fixture
def text():
    return DeviceCodec(load(TEXT))


def rpc_error(bad: BadRequest) -> tuple:
    doc = json.loads(bad.reply)
    assert doc["jsonrpc"] == "2.0"
    return doc["id"], doc["error"]["code"], doc["error"]["message"]


# -- JSON-RPC -----------------------------------------------------------------------


def test_jsonrpc_request_is_read_with_defaults_applied(rpc):
    req = rpc.parse('{"jsonrpc":"2.0","id":7,"method":"belt.set_speed","params":{"speed":1200}}')
    assert isinstance(req, Request)
    assert (req.id, req.command.key, req.params) == (7, "set_speed", {"speed": 1200, "ramp": 1.5})


def test_jsonrpc_params_may_be_omitted_for_a_command_without_any(rpc):
    req = rpc.parse('{"jsonrpc":"2.0","id":"a","method":"belt.status"}')
    assert isinstance(req, Request) and req.params == {} and req.id == "a"


@pytest.mark.parametrize(
    "message, code, fragment, rid",
    [
        ("{not json", -32700, "not JSON", None),
        ('{"jsonrpc":"2.0","id":"\\ud800","method":"belt.status"}', -32700, "unpaired surrogate", None),
        ('{"jsonrpc":"2.0","id":1,"method":"belt.status","x":"a\\udfffb"}', -32700, "unpaired surrogate", None),
        ("[1,2]", -32600, "expected a JSON object", None),
        ('{"jsonrpc":"1.0","id":1,"method":"belt.status"}', -32600, '/jsonrpc must be "2.0"', 1),
        ('{"jsonrpc":"2.0","id":{"x":1},"method":"belt.status"}', -32600, "id must be", None),
        ('{"jsonrpc":"2.0","id":2,"method":42}', -32600, "name must be a string", 2),
        ('{"jsonrpc":"2.0","id":3,"method":"belt.fly"}', -32601, "unknown command 'belt.fly'", 3),
        (
            '{"jsonrpc":"2.0","id":4,"method":"belt.set_speed","params":{"speed":5000}}',
            -32602,
            "above the maximum 3000",
            4,
        ),
        ('{"jsonrpc":"2.0","id":5,"method":"belt.set_speed","params":{"speed":"fast"}}', -32602, "expected integer", 5),
        ('{"jsonrpc":"2.0","id":6,"method":"belt.set_speed","params":{}}', -32602, "missing parameter 'speed'", 6),
        (
            '{"jsonrpc":"2.0","id":7,"method":"belt.set_speed","params":{"speed":1,"turbo":1}}',
            -32602,
            "unknown parameter 'turbo'",
            7,
        ),
        ('{"jsonrpc":"2.0","id":8,"method":"belt.set_speed","params":[1200]}', -32602, "must be an object", 8),
    ],
)
def test_jsonrpc_bad_requests_get_standard_error_codes(rpc, message, code, fragment, rid):
    bad = rpc.parse(message)
    assert isinstance(bad, BadRequest), bad
    got_id, got_code, got_message = rpc_error(bad)
    assert (got_id, got_code) == (rid, code)
    assert fragment in got_message and fragment in bad.reason


def test_invalid_utf8_in_a_binary_frame_is_a_parse_error(rpc):
    bad = rpc.parse(b'{"jsonrpc":"2.0","id":1,"method":"belt.status\xff"}')
    assert isinstance(bad, BadRequest) and rpc_error(bad)[:2] == (None, -32700)
    assert "UTF-8" in bad.reason


def test_json_in_a_binary_frame_is_read_like_text(rpc):
    assert isinstance(rpc.parse(b'{"jsonrpc":"2.0","id":1,"method":"belt.status"}'), Request)


def test_jsonrpc_notification_is_not_answered(rpc):
    bad = rpc.parse('{"jsonrpc":"2.0","method":"belt.stop"}')
    assert isinstance(bad, BadRequest) and bad.reply is None and "notification" in bad.reason


def test_id_collision_while_in_progress_then_free_after_finish(rpc):
    first = rpc.parse('{"jsonrpc":"2.0","id":9,"method":"belt.status"}')
    assert isinstance(first, Request) and rpc.in_progress == 1
    again = rpc.parse('{"jsonrpc":"2.0","id":9,"method":"belt.status"}')
    assert isinstance(again, BadRequest) and rpc_error(again)[:2] == (9, -32600) and "collision" in again.reason
    # the string "9" is a different JSON-RPC id
    assert isinstance(rpc.parse('{"jsonrpc":"2.0","id":"9","method":"belt.status"}'), Request)
    rpc.finish(9)
    assert isinstance(rpc.parse('{"jsonrpc":"2.0","id":9,"method":"belt.status"}'), Request)


def test_jsonrpc_result_error_and_notification_forms(rpc):
    profile = rpc.profile
    assert json.loads(rpc.result(3, {"a": 1})) == {"jsonrpc": "2.0", "id": 3, "result": {"a": 1}}
    assert json.loads(rpc.error(3, "not_authorized", "role observer")) == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32001, "message": "Not authorized: role observer"},
    }
    assert json.loads(rpc.event(profile.events["telemetry"], {"speed": 1})) == {
        "jsonrpc": "2.0",
        "method": "belt.telemetry",
        "params": {"speed": 1},
    }


def test_jsonrpc_device_request_and_its_response(rpc):
    ask = rpc.profile.events["ask"]
    call_id, wire = rpc.device_call(ask, {"q": 1}, now=0.0)
    assert json.loads(wire) == {"jsonrpc": "2.0", "id": call_id, "method": "belt.ask", "params": {"q": 1}}
    resp = rpc.parse(json.dumps({"jsonrpc": "2.0", "id": call_id, "result": {"ok": True}}))
    assert isinstance(resp, Response) and resp.ok and resp.event is ask and resp.payload == {"ok": True}


# -- OCPP-J -------------------------------------------------------------------------


def test_ocpp_call_uses_wire_names_and_defaults(ocpp):
    req = ocpp.parse('[2,"u1","RemoteStartTransaction",{"idTag":"TAG1","connectorId":1}]')
    assert isinstance(req, Request) and req.params == {"id_tag": "TAG1", "connector_id": 1}
    reset = ocpp.parse('[2,"u2","Reset",{}]')
    assert isinstance(reset, Request) and reset.params == {"type": "Soft"}


@pytest.mark.parametrize(
    "message, rid, code",
    [
        ("nope", "-1", "FormationViolation"),
        ('{"a":1}', "-1", "FormationViolation"),
        ('[2,"u3","Reset"]', "u3", "FormationViolation"),
        ('[5,"u4","Reset",{}]', "u4", "FormationViolation"),
        ('[2,"u5","UnlockConnector",{}]', "u5", "NotImplemented"),
        ('[2,"u6","Reset",{"type":"Medium"}]', "u6", "TypeConstraintViolation"),
        ('[2,"u7","RemoteStartTransaction",{"connectorId":1}]', "u7", "TypeConstraintViolation"),
        ('[2,"u8","RemoteStartTransaction",{"idTag":"T","connectorId":2}]', "u8", "TypeConstraintViolation"),
    ],
)
def test_ocpp_bad_calls_get_a_callerror(ocpp, message, rid, code):
    bad = ocpp.parse(message)
    assert isinstance(bad, BadRequest), bad
    doc = json.loads(bad.reply)
    assert doc[:3] == [4, rid, code] and isinstance(doc[3], str) and doc[4] == {}


def test_ocpp_callresult_and_callerror_encoding(ocpp):
    assert json.loads(ocpp.result("u1", {"status": "Accepted"})) == [3, "u1", {"status": "Accepted"}]
    assert json.loads(ocpp.error("u1", "not_authorized", "role observer")) == [
        4,
        "u1",
        "SecurityError",
        "Not authorized: role observer",
        {},
    ]
    with pytest.raises(ValueError):
        ocpp.event(ocpp.profile.events["status"], {})  # OCPP has no notifications


def test_ocpp_one_outstanding_device_call_per_direction(ocpp):
    boot, status = ocpp.profile.events["boot"], ocpp.profile.events["status"]
    first = ocpp.device_call(boot, {"chargePointVendor": "ACME"}, now=0.0)
    assert first is not None
    call_id, wire = first
    assert json.loads(wire) == [2, call_id, "BootNotification", {"chargePointVendor": "ACME"}]
    assert ocpp.device_call(status, {"status": "Available"}, now=1.0) is None  # queued
    assert ocpp.due(2.0) == [] and ocpp.outstanding == call_id
    resp = ocpp.parse(json.dumps([3, call_id, {"status": "Accepted"}]))
    assert isinstance(resp, Response) and resp.event is boot and ocpp.outstanding is None
    ((next_id, next_wire),) = ocpp.due(3.0)
    assert json.loads(next_wire)[2] == "StatusNotification" and next_id != call_id


def test_ocpp_unanswered_device_call_times_out_and_releases_the_queue(ocpp):
    boot, status = ocpp.profile.events["boot"], ocpp.profile.events["status"]
    ocpp.device_call(boot, {}, now=0.0)
    ocpp.device_call(status, {}, now=0.0)
    assert ocpp.due(29.0) == []
    ((_, wire),) = ocpp.due(30.0)  # profile timeout 30 s
    assert json.loads(wire)[2] == "StatusNotification"


def test_ocpp_response_nobody_waits_for_is_reported_unmatched(ocpp):
    resp = ocpp.parse('[4,"zz","GenericError","no",{}]')
    assert isinstance(resp, Response) and not resp.ok and resp.event is None and resp.code == "GenericError"


def test_ocpp_id_collision(ocpp):
    assert isinstance(ocpp.parse('[2,"same","Reset",{}]'), Request)
    bad = ocpp.parse('[2,"same","Reset",{}]')
    assert isinstance(bad, BadRequest) and json.loads(bad.reply)[:3] == [4, "same", "FormationViolation"]


# -- text lockstep ---------------------------------------------------------------------


def test_text_requests_are_read_by_the_command_template(text):
    req = text.parse("VOLT 12.5")
    assert isinstance(req, Request) and req.command.key == "volt" and req.params == {"value": 12.5} and req.id is None
    assert isinstance(text.parse("READ?\n"), Request)


@pytest.mark.parametrize(
    "line, reply",
    [
        ("VOLT 99", "ERR 422 bad parameter: VOLT: value: 99 V is above the maximum 30 V"),
        ("VOLT abc", "ERR 422 bad parameter: VOLT: value: 'abc' is not a valid number"),
        ("VOLT", "ERR 422 bad parameter: usage: volt value=<number 0..30 V>"),
        ("FLY 1", "ERR 404 unknown command: unknown command 'FLY'"),
        ("", "ERR 400 cannot parse: empty line"),
    ],
)
def test_text_errors_are_err_lines(text, line, reply):
    bad = text.parse(line)
    assert isinstance(bad, BadRequest) and bad.reply == reply


def test_text_invalid_utf8(text):
    bad = text.parse(b"VOLT \xff")
    assert isinstance(bad, BadRequest) and bad.reply.startswith("ERR 400 ")


def test_text_result_and_event_lines(text):
    assert text.result(None, "OK 5") == "OK 5"
    assert text.event(text.profile.events["meas"], {"volt": 5}) == '#EVT MEAS {"volt":5}'


# -- a framing that fits no preset ------------------------------------------------------


def test_custom_framing_reads_shared_and_own_templates():
    codec = DeviceCodec(load(CUSTOM))
    move = codec.parse('{"v":1,"seq":4,"cmd":"move","args":{"x":3}}')
    assert isinstance(move, Request) and (move.id, move.command.key, move.params) == (4, "move", {"x": 3})
    home = codec.parse('{"v":1,"seq":5,"home":true,"axis":"y"}')
    assert isinstance(home, Request) and (home.command.key, home.params) == ("home", {"axis": "y"})
    # a command with its own template is not reachable through the shared one
    bad = codec.parse('{"v":1,"seq":6,"cmd":"home","args":{"axis":"x"}}')
    assert isinstance(bad, BadRequest) and bad.kind == "unknown_command"
    # no [framing.errors] in the profile: the loader's generic forms, the kind as the code
    assert json.loads(bad.reply) == {
        "seq": 6,
        "fail": {"code": "unknown_command", "text": "unknown command: unknown command 'home'"},
    }
    wrong = codec.parse('{"v":2,"seq":7,"cmd":"move","args":{"x":1}}')
    assert isinstance(wrong, BadRequest) and wrong.kind == "invalid_request" and json.loads(wrong.reply)["seq"] == 7
    assert json.loads(codec.result(4, {"done": 1})) == {"seq": 4, "ok": {"done": 1}}
