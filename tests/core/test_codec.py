"""The client codec: framing, correlation and classification, without sockets."""

from __future__ import annotations

import json

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.codec import (
    ClientCodec,
    DeviceRequest,
    Malformed,
    Reply,
    Telemetry,
    Unmatched,
    bind_params,
    parse_assignments,
)
from wsctl.core.profile.loader import parse_profile

JSONRPC = """
format = "wsctl-profile/1"
[profile]
id = "belt"
[framing]
preset = "jsonrpc2"
[commands.set_speed]
roles = ["engineer+"]
timeout = 2
[commands.set_speed.params.speed]
type = "integer"
minimum = 0
maximum = 3000
unit = "mm/s"
[commands.set_speed.params.ramp]
type = "number"
default = 1.5
[commands.status]
[events.telemetry]
name = "telemetry"
[events.hello]
name = "hello"
reply = { welcome = true }
"""

OCPP = """
format = "wsctl-profile/1"
[profile]
id = "cp"
[transport]
subprotocols = ["ocpp1.6"]
[framing]
preset = "ocpp-j"
[commands.reset]
name = "Reset"
dangerous = true
success = { "/status" = "Accepted" }
[commands.reset.params.type]
type = "string"
enum = ["Soft", "Hard"]
default = "Soft"
[commands.get_configuration]
name = "GetConfiguration"
[events.boot]
name = "BootNotification"
reply = { status = "Accepted", currentTime = "{{now}}", interval = 300 }
"""

TEXT = """
format = "wsctl-profile/1"
[profile]
id = "psu"
[framing]
preset = "text-lockstep"
[commands.volt]
name = "VOLT"
request = "VOLT {{params.value}}"
success = { regex = "^OK" }
[commands.volt.params.value]
type = "number"
maximum = 30
unit = "V"
[commands.idn]
name = "*IDN?"
"""


@pytest.fixture
def belt():
    return parse_profile(JSONRPC, source="belt.toml")


def test_parameters_are_parsed_checked_and_defaulted(belt):
    cmd = belt.command("set_speed")
    assert bind_params(cmd, {"speed": "1200"}, from_text=True) == {"speed": 1200, "ramp": 1.5}
    with pytest.raises(InvalidInput, match="above the maximum 3000 mm/s") as err:
        bind_params(cmd, {"speed": "4000"}, from_text=True)
    assert "usage: set_speed speed=<integer 0..3000 mm/s>" in err.value.hint
    with pytest.raises(InvalidInput, match="not a valid integer"):
        bind_params(cmd, {"speed": "fast"}, from_text=True)
    with pytest.raises(InvalidInput, match="unknown parameter 'sped'"):
        bind_params(cmd, {"sped": "1"}, from_text=True)
    with pytest.raises(InvalidInput, match="missing parameter 'speed'"):
        bind_params(cmd, {}, from_text=True)


def test_assignments_need_name_equals_value():
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(InvalidInput):
        parse_assignments(["novalue"])
    with pytest.raises(InvalidInput, match="twice"):
        parse_assignments(["a=1", "a=2"])


def test_jsonrpc_replies_are_matched_by_id_with_events_in_between(belt):
    codec = ClientCodec(belt)
    a = codec.call(belt.command("set_speed"), {"speed": 100, "ramp": 1.5}, now=0)
    b = codec.call(belt.command("status"), {}, now=0)
    assert b.id == 2
    assert json.loads(a.wire) == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "set_speed",
        "params": {"speed": 100, "ramp": 1.5},
    }
    [event] = codec.feed('{"jsonrpc":"2.0","method":"telemetry","params":{"speed":99}}', now=0.1)
    assert isinstance(event, Telemetry) and event.payload == {"speed": 99} and event.event.key == "telemetry"
    [second] = codec.feed('{"jsonrpc":"2.0","id":2,"result":{"state":"running"}}', now=0.2)
    [first] = codec.feed('{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Not authorized"}}', now=0.3)
    assert second.command.key == "status" and second.ok and second.payload == {"state": "running"}
    assert first.command.key == "set_speed" and not first.ok and first.error.code == -32001
    assert codec.pending == 0


def test_unknown_late_and_malformed_replies_are_reported_not_matched(belt):
    codec = ClientCodec(belt)
    out = codec.call(belt.command("status"), {}, now=0)
    [unknown] = codec.feed('{"jsonrpc":"2.0","id":99,"result":{}}', now=0.1)
    assert isinstance(unknown, Unmatched) and "matches no pending request" in unknown.reason
    codec.cancel(out)  # the caller gave up on it (Session.call's timeout)
    [late] = codec.feed(json.dumps({"jsonrpc": "2.0", "id": out.id, "result": {}}), now=101)
    assert isinstance(late, Unmatched) and "after its timeout" in late.reason
    [bad] = codec.feed("{not json", now=101)
    assert isinstance(bad, Malformed) and "not JSON" in bad.reason
    [odd] = codec.feed('{"hello": 1}', now=101)
    assert isinstance(odd, Malformed) and "no inbound rule" in odd.reason


def test_device_request_gets_its_auto_reply_or_method_not_found(belt):
    codec = ClientCodec(belt)
    [req] = codec.feed('{"jsonrpc":"2.0","id":"d1","method":"hello","params":{}}', now=0)
    assert isinstance(req, DeviceRequest)
    assert json.loads(req.answer) == {"jsonrpc": "2.0", "id": "d1", "result": {"welcome": True}}
    [other] = codec.feed('{"jsonrpc":"2.0","id":"d2","method":"nope","params":{}}', now=0)
    assert json.loads(other.answer)["error"]["code"] == -32601


def test_a_caller_that_answers_itself_gets_requests_without_the_profiles_answer(belt):
    """A hub's central side answers every device request: the codec renders none."""
    codec = ClientCodec(belt, answers=False)
    [req, other] = codec.feed('{"jsonrpc":"2.0","id":"d1","method":"hello","params":{"a":1}}', now=0) + codec.feed(
        '{"jsonrpc":"2.0","id":"d2","method":"nope","params":{}}', now=0
    )
    assert isinstance(req, DeviceRequest) and isinstance(other, DeviceRequest)
    assert (req.name, req.id, req.payload, req.answer) == ("hello", "d1", {"a": 1}, None)
    assert other.answer is None


def test_uuid4_ids_need_an_id_source_from_the_caller():
    cp = parse_profile(OCPP, source="cp.toml")
    with pytest.raises(InvalidInput, match="need an id source"):
        ClientCodec(cp).call(cp.command("reset"), {"type": "Hard"}, now=0)


def test_now_comes_from_the_callers_clock():
    from wsctl.files.profiles import load_profile

    charger = load_profile("ocpp16-charger")  # its Heartbeat reply is {currentTime = "{{now}}"}
    [request] = ClientCodec(charger, wall=lambda: 86400.0).feed('[2,"h1","Heartbeat",{}]', now=0)
    assert json.loads(request.answer) == [3, "h1", {"currentTime": "1970-01-02T00:00:00Z"}]


def test_ocpp_result_without_action_is_matched_and_business_failure_detected():
    cp = parse_profile(OCPP, source="cp.toml")
    ids = iter(["id-1", "id-2"])
    codec = ClientCodec(cp, new_uuid=lambda: next(ids))  # the caller gives the ids: core has no randomness
    out = codec.call(cp.command("reset"), {"type": "Hard"}, now=0)
    frame = json.loads(out.wire)
    assert frame[1] == "id-1"
    assert frame[0] == 2 and frame[2] == "Reset" and frame[3] == {"type": "Hard"}
    assert not codec.can_send()  # one outstanding call per direction
    with pytest.raises(InvalidInput, match="in flight"):
        codec.call(cp.command("get_configuration"), {}, now=0)
    [reply] = codec.feed(json.dumps([3, frame[1], {"status": "Rejected"}]), now=0.5)
    assert isinstance(reply, Reply) and reply.command.key == "reset"
    assert reply.failed_check == 'status is "Rejected", expected "Accepted"' and not reply.ok
    [boot] = codec.feed('[2,"b1","BootNotification",{"chargePointModel":"X"}]', now=1)
    answer = json.loads(boot.answer)
    assert answer[0:2] == [3, "b1"] and answer[2]["status"] == "Accepted" and answer[2]["interval"] == 300


def test_ocpp_error_for_an_unreadable_id_goes_to_the_one_call_in_flight():
    cp = parse_profile(OCPP, source="cp.toml")
    codec = ClientCodec(cp, new_uuid=lambda: "id-1")
    codec.call(cp.command("get_configuration"), {}, now=0)
    [reply] = codec.feed('[4,"-1","FormationViolation","bad frame",{}]', now=0.1)
    assert reply.command.key == "get_configuration" and reply.error.code == "FormationViolation"


def test_text_lockstep_pairs_lines_and_skips_events():
    psu = parse_profile(TEXT, source="psu.toml")
    codec = ClientCodec(psu)
    out = codec.call(psu.command("volt"), {"value": 12.5}, now=0)
    assert out.wire == "VOLT 12.5"
    [event] = codec.feed("#EVT overtemp 71.5", now=0.1)
    assert isinstance(event, Telemetry) and event.name == "overtemp" and event.payload == "71.5"
    [reply] = codec.feed("OK", now=0.2)
    assert reply.ok and reply.command.key == "volt"
    codec.call(psu.command("volt"), {"value": 40}, now=1)
    [err] = codec.feed("ERR 422 out of range", now=1.1)
    assert err.error.code == "422" and err.error.message == "out of range"
    [stray] = codec.feed("OK", now=2)
    assert isinstance(stray, Unmatched)


def test_success_regex_failure_on_text():
    psu = parse_profile(TEXT, source="psu.toml")
    codec = ClientCodec(psu)
    codec.call(psu.command("volt"), {"value": 1}, now=0)
    [reply] = codec.feed("BUSY", now=0.1)
    assert not reply.ok and "does not match" in reply.failed_check


def test_command_template_reaches_a_parameter_by_its_profile_name_when_the_wire_name_differs():
    cp = parse_profile(
        OCPP.replace(
            '[commands.get_configuration]\nname = "GetConfiguration"',
            '''[commands.get_configuration]
name = "GetConfiguration"
request = [2, "{{id}}", "{{name}}", {key = ["{{params.config_key}}"]}]
[commands.get_configuration.params.config_key]
type = "string"
wire = "key"

[commands.unlock]
name = "UnlockConnector"
[commands.unlock.params.connector_id]
type = "integer"
wire = "connectorId"''',
        ),
        source="cp.toml",
    )
    codec = ClientCodec(cp, new_uuid=lambda: "id-1")
    out = codec.call(cp.command("get_configuration"), {"config_key": "HeartbeatInterval"}, now=0)
    assert json.loads(out.wire)[3] == {"key": ["HeartbeatInterval"]}
    codec.feed(json.dumps([3, json.loads(out.wire)[1], {}]), now=0.1)
    unlock = codec.call(cp.command("unlock"), {"connector_id": 1}, now=1)
    assert json.loads(unlock.wire)[3] == {"connectorId": 1}


def test_text_lockstep_late_reply_goes_to_the_timed_out_call_not_the_next_one():
    psu = parse_profile(TEXT, source="psu.toml")
    codec = ClientCodec(psu)
    codec.cancel(codec.call(psu.command("volt"), {"value": 1}, now=0))  # timed out
    first = codec.call(psu.command("idn"), {}, now=101)
    codec.cancel(first)  # given up on by the caller: also owes a line
    codec.call(psu.command("idn"), {}, now=102)
    [event] = codec.feed("#EVT overtemp 71.5", now=102.1)  # events owe nothing
    assert isinstance(event, Telemetry)
    [late] = codec.feed("OK", now=102.2)
    assert isinstance(late, Unmatched) and late.id is None and late.reason == "reply to volt arrived after its timeout"
    [late_err] = codec.feed("ERR 500 busy", now=102.3)
    assert isinstance(late_err, Unmatched) and late_err.reason == "reply to idn arrived after its timeout"
    assert codec.pending == 1
    [reply] = codec.feed("ACME,PSU,1", now=102.4)
    assert isinstance(reply, Reply) and reply.command.key == "idn" and reply.payload == "ACME,PSU,1"
    assert codec.pending == 0
