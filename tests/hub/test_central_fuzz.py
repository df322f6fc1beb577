"""A bounded fuzz test: whatever a device sends, the central side answers with a
valid OCPP-J frame or nothing, never raises; every CALLRESULT it writes fits the
official response schema of the action it answers."""

from __future__ import annotations

import json

from central_helpers import Ledger, route, shipped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp_schemas import VERSIONS, errors

from wsctl.core.hub.central import CentralSide

PROFILES = {name: (shipped(name), CentralSide(shipped(name))) for name in VERSIONS}
ACTIONS = sorted({e.name for p, _ in PROFILES.values() for e in p.events.values()} | {"Nope", ""})
FIELDS = sorted({f.name for p, _ in PROFILES.values() for e in p.events.values() for f in e.fields})
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
NOW = "2026-12-02T03:30:00Z"
TOKEN = {"idToken": "04A2B3C4", "type": "ISO14443"}
#: one valid call of every action each profile answers: the fuzz mutates these,
#: so answers (not only refusals) are reached
VALID = {
    "ocpp16": {
        "BootNotification": {"chargePointVendor": "ACME", "chargePointModel": "X", "firmwareVersion": "1"},
        "Heartbeat": {},
        "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        "MeterValues": {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "1"}]}]},
        "Authorize": {"idTag": "04A2B3C4"},
        "StartTransaction": {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 0, "timestamp": NOW},
        "StopTransaction": {"transactionId": 1001, "meterStop": 5, "timestamp": NOW, "idTag": "X"},
        "SecurityEventNotification": {"type": "T", "timestamp": NOW},
        "DataTransfer": {"vendorId": "v"},
        "FirmwareStatusNotification": {"status": "Idle"},
        "DiagnosticsStatusNotification": {"status": "Idle"},
    },
    "ocpp201": {
        "BootNotification": {"chargingStation": {"vendorName": "A", "model": "M"}, "reason": "PowerUp"},
        "Heartbeat": {},
        "StatusNotification": {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 1.0}]}]},
        "Authorize": {"idToken": TOKEN},
        "TransactionEvent": {
            "eventType": "Started", "timestamp": NOW, "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "T-1"}, "idToken": TOKEN,
        },
        "SecurityEventNotification": {"type": "T", "timestamp": NOW},
        "NotifyReport": {"requestId": 1, "generatedAt": NOW, "seqNo": 0},
        "NotifyEvent": {"generatedAt": NOW, "seqNo": 0, "eventData": [{"eventId": 1, "timestamp": NOW, "trigger": "Alerting", "actualValue": "9", "eventNotificationType": "HardWiredMonitor", "component": {"name": "C"}, "variable": {"name": "V"}}]},
        "FirmwareStatusNotification": {"status": "Idle"},
        "LogStatusNotification": {"status": "Idle"},
        "DataTransfer": {"vendorId": "v"},
    },
}  # fmt: skip


@st.composite
def mutated_calls(draw, profile_id):
    """A valid call with some fields dropped, replaced by any JSON or added."""
    action = draw(st.sampled_from(sorted(VALID[profile_id])))
    payload = dict(VALID[profile_id][action])
    for key in sorted(payload):
        change = draw(st.sampled_from(["keep"] * 6 + ["drop", "replace"]))
        if change == "drop":
            del payload[key]
        elif change == "replace":
            payload[key] = draw(json_values)
    payload.update(draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=2)))
    return [2, draw(st.text(min_size=1, max_size=36)), action, payload]


payloads = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8) | json_values
calls = st.tuples(st.just(2), st.text(max_size=40) | json_values, st.sampled_from(ACTIONS) | json_values, payloads)
frames = calls.map(list) | json_values | st.lists(json_values, max_size=6)
statuses = st.sampled_from(["approved", "approved", "approved", "pending", "blocked", "unknown"])


@FUZZ
@given(
    profile_id=st.sampled_from(sorted(PROFILES)),
    data=st.data(),
    status=statuses,
    garbage=st.none() | st.binary(max_size=20),
)
def test_answers_never_raise_and_every_result_fits_the_official_schema(profile_id, data, status, garbage):
    profile, side = PROFILES[profile_id]
    frame = data.draw(st.one_of(mutated_calls(profile_id), mutated_calls(profile_id), frames))
    wire = garbage if garbage is not None else json.dumps(frame)
    answer = route(profile, side, wire, Ledger().context(status))
    if answer is None or answer.frame is None:
        return
    sent = json.loads(answer.frame)
    assert sent[0] in (3, 4)
    if sent[0] == 4:
        assert len(sent) == 5 and isinstance(sent[2], str) and answer.effects == ()
        return
    assert isinstance(frame, list) and status in ("approved", "pending", "blocked", "unknown")
    action = frame[2]
    assert errors(VERSIONS[profile_id], action, sent[2], response=True) == []
