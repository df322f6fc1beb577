from wsctl.core.profile.fields import decode_fields
from wsctl.files.profiles import load_profile


def test_text_telemetry_fields_are_typed_by_the_profile():
    psu = load_profile("psu")
    meas = psu.event_by_wire("MEAS")
    assert decode_fields(meas, "V=12.5 I=0.48 T=31.2") == {"V": 12.5, "I": 0.48, "T": 31.2}


def test_anything_that_does_not_fit_is_left_as_it_came():
    psu = load_profile("psu")
    meas = psu.event_by_wire("MEAS")
    assert decode_fields(meas, "V=12.5 X=1") == "V=12.5 X=1"
    assert decode_fields(meas, "V=high") == "V=high"
    assert decode_fields(psu.event_by_wire("OVP"), "tripped") == "tripped"
    assert decode_fields(None, {"a": 1}) == {"a": 1}


def test_profile_path_fills_an_empty_url_path_only():
    from wsctl.core.profile.fields import profile_url

    conveyor = load_profile("conveyor")
    assert profile_url("wss://plc-17:8443/", conveyor) == "wss://plc-17:8443/"  # a typed path wins, / included
    assert profile_url("wss://plc-17:8443", conveyor) == "wss://plc-17:8443/rpc"
    assert profile_url("wss://plc-17:8443/other", conveyor) == "wss://plc-17:8443/other"
    assert profile_url("wss://plc-17:8443/?x=1", conveyor) == "wss://plc-17:8443/?x=1"


def test_is_reply_tells_replies_from_telemetry_and_device_requests():
    from wsctl.core.profile.fields import is_reply

    conveyor = load_profile("conveyor")
    assert is_reply(conveyor, '{"jsonrpc":"2.0","id":3,"result":{}}')
    assert is_reply(conveyor, '{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"x"}}')
    assert not is_reply(conveyor, '{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{}}')
    assert is_reply(conveyor, "not json")  # unreadable: compared, not hidden
    charger = load_profile("ocpp16-charger")
    assert is_reply(charger, '[3,"a",{}]') and not is_reply(charger, '[2,"b","Heartbeat",{}]')
    psu = load_profile("psu")
    assert is_reply(psu, "OK") and not is_reply(psu, "#EVT MEAS V=1 I=0 T=20")


def test_a_plan_built_with_a_filter_expects_only_kept_answers():
    from wsctl.core.record.format import Event
    from wsctl.core.record.replay import build_plan

    events = [
        Event(t=0.0, kind="open", conn=1),
        Event(t=0.1, kind="text", dir="out", conn=1, data="ask"),
        Event(t=0.2, kind="text", dir="in", conn=1, data="telemetry"),
        Event(t=0.3, kind="text", dir="in", conn=1, data="reply"),
    ]
    assert len(build_plan(events).expected) == 2
    plan = build_plan(events, keep=lambda m: m != "telemetry")
    assert len(plan.expected) == 1 and plan.sends[0].expect == 1
