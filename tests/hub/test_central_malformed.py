"""Malformed device calls get the protocol's CALLERROR, never a crash and never
a silent drop; answers are never answered."""

from __future__ import annotations

import json

import pytest
from central_helpers import NOW, Ledger, call, error_of, route, shipped

from wsctl.core.hub.central import CentralSide
from wsctl.core.profile.events import Malformed

PROFILES = {name: (shipped(name), CentralSide(shipped(name))) for name in ("ocpp16", "ocpp201")}
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X"}

# frame -> (message id answered to, 1.6 code, 2.0.1 code)
FRAME_CASES = {
    "not JSON": ('[2,"m-1","Heartbeat",', "-1", "FormationViolation", "RpcFrameworkError"),
    "not an array": ('{"action":"Heartbeat"}', "-1", "FormationViolation", "RpcFrameworkError"),
    "a bare string": ('"Heartbeat"', "-1", "FormationViolation", "RpcFrameworkError"),
    "empty array": ("[]", "-1", "FormationViolation", "RpcFrameworkError"),
    "unknown message type id": ('[7,"m-1","Heartbeat",{}]', "m-1", "FormationViolation", "MessageTypeNotSupported"),
    "message type id as text": ('["2","m-1","Heartbeat",{}]', "m-1", "FormationViolation", "MessageTypeNotSupported"),
    "missing action": ('[2,"m-1"]', "m-1", "FormationViolation", "RpcFrameworkError"),
    "missing payload": ('[2,"m-1","Heartbeat"]', "m-1", "FormationViolation", "RpcFrameworkError"),
    "an element too many": ('[2,"m-1","Heartbeat",{},{}]', "m-1", "FormationViolation", "RpcFrameworkError"),
    "action not a string": ('[2,"m-1",17,{}]', "m-1", "FormationViolation", "RpcFrameworkError"),
    "empty action": ('[2,"m-1","",{}]', "m-1", "FormationViolation", "RpcFrameworkError"),
    "message id unreadable": ('[2,{"id":1},"Heartbeat",{}]', "-1", "FormationViolation", "RpcFrameworkError"),
    "message id null": ('[2,null,"Heartbeat",{}]', "-1", "FormationViolation", "RpcFrameworkError"),
    "payload not an object": ('[2,"m-1","Heartbeat",[]]', "m-1", "FormationViolation", "FormatViolation"),
    "payload null": ('[2,"m-1","Heartbeat",null]', "m-1", "FormationViolation", "FormatViolation"),
    "unknown action": ('[2,"m-1","FlyToTheMoon",{}]', "m-1", "NotImplemented", "NotImplemented"),
    "binary, not UTF-8": (b"\xff\xfe[2]", "-1", "FormationViolation", "RpcFrameworkError"),
}


@pytest.mark.parametrize("profile_id", ["ocpp16", "ocpp201"])
@pytest.mark.parametrize("case", sorted(FRAME_CASES))
def test_a_frame_that_is_not_a_valid_call_gets_the_protocols_error(case, profile_id):
    frame, answered_id, code16, code201 = FRAME_CASES[case]
    profile, side = PROFILES[profile_id]
    answer = route(profile, side, frame, Ledger().context())
    assert error_of(answer, profile_id) == (answered_id, code16 if profile_id == "ocpp16" else code201)


PAYLOAD_CASES_16 = {
    "wrong field type": ("BootNotification", {"chargePointVendor": 5, "chargePointModel": "X"}, "TypeConstraintViolation"),
    "integer as text": ("StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}, "TypeConstraintViolation"),
    "boolean for an integer": ("MeterValues", {"connectorId": True, "meterValue": []}, "TypeConstraintViolation"),
    "enum violated": ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"}, "PropertyConstraintViolation"),
    "string too long": ("Authorize", {"idTag": "X" * 21}, "PropertyConstraintViolation"),
    "below the minimum": ("StartTransaction", {"connectorId": 0, "idTag": "A", "meterStart": 0, "timestamp": NOW}, "PropertyConstraintViolation"),
    "required field missing": ("BootNotification", {"chargePointVendor": "ACME"}, "OccurenceConstraintViolation"),
}  # fmt: skip
PAYLOAD_CASES_201 = {
    "nested field of the wrong type": ("BootNotification", {"chargingStation": {"vendorName": "A", "model": 5}, "reason": "PowerUp"}, "TypeConstraintViolation"),
    "nested field too long": ("BootNotification", {"chargingStation": {"vendorName": "A", "model": "M" * 21}, "reason": "PowerUp"}, "PropertyConstraintViolation"),
    "nested field missing": ("BootNotification", {"chargingStation": {"model": "M"}, "reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    "enum violated": ("BootNotification", {"chargingStation": {"vendorName": "A", "model": "M"}, "reason": "Bored"}, "PropertyConstraintViolation"),
    "transaction without its id": ("TransactionEvent", {"eventType": "Started", "timestamp": NOW, "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {}}, "OccurrenceConstraintViolation"),
    "id token type unknown": ("Authorize", {"idToken": {"idToken": "A", "type": "Magic"}}, "PropertyConstraintViolation"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("profile_id", "case"),
    [("ocpp16", c) for c in sorted(PAYLOAD_CASES_16)] + [("ocpp201", c) for c in sorted(PAYLOAD_CASES_201)],
)
def test_a_payload_that_breaks_the_events_fields_gets_the_constraint_error(profile_id, case):
    action, payload, code = (PAYLOAD_CASES_16 if profile_id == "ocpp16" else PAYLOAD_CASES_201)[case]
    profile, side = PROFILES[profile_id]
    ledger = Ledger()
    answer = route(profile, side, call(action, payload), ledger.context())
    assert error_of(answer, profile_id) == ("m-1", code)
    assert ledger.started == [] and ledger.stopped == []


def test_the_error_description_names_the_field_and_stays_short():
    profile, side = PROFILES["ocpp16"]
    answer = route(profile, side, call("Authorize", {"idTag": "X" * 5000}), Ledger().context())
    description = json.loads(answer.frame)[3]
    assert description.startswith("Authorize: idTag") and len(description) <= 203


def test_a_malformed_boot_is_refused_before_the_registry_status_matters():
    # a pending device's broken boot is a broken boot, not a Pending answer
    profile, side = PROFILES["ocpp16"]
    answer = route(profile, side, call("BootNotification", {"chargePointModel": "X"}), Ledger().context("pending"))
    assert error_of(answer, "ocpp16") == ("m-1", "OccurenceConstraintViolation")


@pytest.mark.parametrize("frame", ['[3,"m-1"]', "[3]", '[4,"m-1"]', "[4]", '[3,"m-1",{},"extra"]'])
def test_a_broken_reply_is_never_answered(frame):
    # OCPP-J: a CALLRESULT / CALLERROR is never answered, not even a broken one
    for profile_id in ("ocpp16", "ocpp201"):
        _, side = PROFILES[profile_id]
        assert side.malformed(Malformed(frame, "fits no inbound rule"), Ledger().context()) is None


def test_a_call_of_a_device_that_is_not_approved_says_why():
    profile, side = PROFILES["ocpp201"]
    answer = route(profile, side, call("Heartbeat", {}, "m-9"), Ledger().context("blocked", "CS-17"))
    assert json.loads(answer.frame) == [
        4,
        "m-9",
        "SecurityError",
        "CS-17 is blocked, not approved: Heartbeat refused",
        {},
    ]
    assert answer.error == "SecurityError: CS-17 is blocked, not approved: Heartbeat refused"


def test_an_unknown_message_type_is_named_in_the_description():
    profile, side = PROFILES["ocpp201"]
    answer = route(profile, side, '[7,"m-1","Heartbeat",{}]', Ledger().context())
    assert json.loads(answer.frame) == [4, "m-1", "MessageTypeNotSupported", "the frame's /0 is 7, a call has 2", {}]
