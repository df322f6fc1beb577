from wsctl.core.profile.discovery import load_profile
from wsctl.core.profile.fields import decode_fields


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
    assert profile_url("wss://plc-17:8443/", conveyor) == "wss://plc-17:8443/rpc"
    assert profile_url("wss://plc-17:8443", conveyor) == "wss://plc-17:8443/rpc"
    assert profile_url("wss://plc-17:8443/other", conveyor) == "wss://plc-17:8443/other"
    assert profile_url("wss://plc-17:8443/?x=1", conveyor) == "wss://plc-17:8443/?x=1"
