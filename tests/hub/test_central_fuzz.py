"""A bounded fuzz test: whatever a device sends, the central side answers with a
valid OCPP-J frame or nothing, never raises; every CALLRESULT it writes fits the
official response schema of the action it answers."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import tomllib
from importlib import resources

from central_helpers import Ledger, route, shipped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp_schemas import VERSIONS, errors

from wsctl.cli.support.errors import report
from wsctl.core.errors import InvalidInput
from wsctl.core.exit_table import ExitCode
from wsctl.core.hub.central import CentralSide
from wsctl.core.hub.central_spec import parse_central
from wsctl.core.profile.loader import _Checker

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


toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["/x", "{{now}}"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
CENTRAL_201 = tomllib.loads(resources.files("wsctl").joinpath("profiles", "ocpp201.toml").read_text("utf-8"))["central"]


@st.composite
def mutated_central(draw):
    """The shipped [central] of ocpp201 with a few places replaced, deleted or added to."""
    doc = copy.deepcopy(CENTRAL_201)
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if isinstance(node[key], dict) and node[key] and draw(st.integers(0, 3)) > 0:
                node = node[key]
                continue
            action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            if action == "replace":
                node[key] = draw(toml_values)
            elif action == "delete":
                del node[key]
            else:
                node[draw(st.text(max_size=6))] = draw(toml_values)
            break
    return doc


@FUZZ
@given(mutated_central())
def test_the_central_parser_returns_or_refuses_in_one_line_naming_central(doc):
    profile = PROFILES["ocpp201"][0]
    try:
        spec = parse_central(_Checker("fuzz.toml"), doc, profile.events, profile.framing)
    except InvalidInput as exc:
        # what the operator sees: one line (the CLI escapes control characters in keys)
        shown = io.StringIO()
        assert report(exc, shown, as_json=False) == ExitCode.INVALID
        assert exc.message.startswith("fuzz.toml: central") and len(shown.getvalue().splitlines()) == 1
        return
    # what the loader lets through never makes an answer raise
    side = CentralSide(dataclasses.replace(profile, central=spec))
    for action, payload in VALID["ocpp201"].items():
        answer = route(profile, side, json.dumps([2, "m-1", action, payload]), Ledger().context())
        assert answer is not None and json.loads(answer.frame)[:2] in ([3, "m-1"], [4, "m-1"])
