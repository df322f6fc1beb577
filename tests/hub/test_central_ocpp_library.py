"""Devices built with the PyPI `ocpp` library (mobilityhouse): the calls its v16 /
v201 ChargePoint classes serialize are answered by the central side, and the
library reads every answer back: its own schema validation passes and its
call_result classes take the payload."""

from __future__ import annotations

import pytest
from central_helpers import NOW, Ledger, route, shipped
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, CallResult, _validate_payload, unpack
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import enums as enums16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201

from wsctl.core.hub.central import CentralSide

METER_16 = [{"timestamp": NOW, "sampled_value": [{"value": "1200", "measurand": "Energy.Active.Import.Register"}]}]
TOKEN = types201.IdTokenType(id_token="04A2B3C4", type=enums201.IdTokenEnumType.iso14443)
EVENT = types201.EventDataType(
    event_id=1,
    timestamp=NOW,
    trigger=enums201.EventTriggerEnumType.alerting,
    actual_value="95",
    event_notification_type=enums201.EventNotificationEnumType.hard_wired_monitor,
    component=types201.ComponentType(name="TemperatureSensor"),
    variable=types201.VariableType(name="Temperature"),
)
CALLS_16 = [
    call16.BootNotification(charge_point_vendor="ACME", charge_point_model="Wallbox-22", firmware_version="1.4.2"),
    call16.Heartbeat(),
    call16.StatusNotification(
        connector_id=1, error_code=enums16.ChargePointErrorCode.no_error, status=enums16.ChargePointStatus.charging
    ),
    call16.MeterValues(connector_id=1, meter_value=METER_16, transaction_id=1001),
    call16.Authorize(id_tag="04A2B3C4"),
    call16.StartTransaction(connector_id=1, id_tag="04A2B3C4", meter_start=0, timestamp=NOW),
    call16.StopTransaction(meter_stop=1200, timestamp=NOW, transaction_id=1001, reason=enums16.Reason.remote),
    call16.SecurityEventNotification(type="TamperDetectionActivated", timestamp=NOW, tech_info="lid opened"),
    call16.DataTransfer(vendor_id="com.acme", message_id="hello", data="x"),
    call16.FirmwareStatusNotification(status=enums16.FirmwareStatus.installed),
    call16.DiagnosticsStatusNotification(status=enums16.DiagnosticsStatus.uploaded),
]
CALLS_201 = [
    call201.BootNotification(
        charging_station=types201.ChargingStationType(model="Wallbox-22", vendor_name="ACME", serial_number="SN-9"),
        reason=enums201.BootReasonEnumType.power_up,
    ),
    call201.Heartbeat(),
    call201.StatusNotification(
        timestamp=NOW, connector_status=enums201.ConnectorStatusEnumType.occupied, evse_id=1, connector_id=1
    ),
    call201.MeterValues(
        evse_id=1,
        meter_value=[types201.MeterValueType(timestamp=NOW, sampled_value=[types201.SampledValueType(value=1200.0)])],
    ),
    call201.Authorize(id_token=TOKEN),
    call201.TransactionEvent(
        event_type=enums201.TransactionEventEnumType.started,
        timestamp=NOW,
        trigger_reason=enums201.TriggerReasonEnumType.authorized,
        seq_no=0,
        transaction_info=types201.TransactionType(transaction_id="CS-17-0001"),
        id_token=TOKEN,
        evse=types201.EVSEType(id=1, connector_id=1),
    ),
    call201.TransactionEvent(
        event_type=enums201.TransactionEventEnumType.ended,
        timestamp=NOW,
        trigger_reason=enums201.TriggerReasonEnumType.remote_stop,
        seq_no=1,
        transaction_info=types201.TransactionType(transaction_id="CS-17-0001"),
    ),
    call201.NotifyReport(request_id=1, generated_at=NOW, seq_no=0, tbc=False),
    call201.NotifyEvent(generated_at=NOW, seq_no=0, event_data=[EVENT]),
    call201.SecurityEventNotification(type="FirmwareUpdated", timestamp=NOW),
    call201.FirmwareStatusNotification(status=enums201.FirmwareStatusEnumType.installed),
    call201.LogStatusNotification(status=enums201.UploadLogStatusEnumType.uploaded),
    call201.DataTransfer(vendor_id="com.acme"),
]
CASES = [("ocpp16", "1.6", result16, c) for c in CALLS_16] + [("ocpp201", "2.0.1", result201, c) for c in CALLS_201]


def library_frame(payload) -> str:
    """What the library's ChargePoint.call puts on the wire for `payload`."""
    body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
    return Call(unique_id="lib-1", action=payload.__class__.__name__, payload=body).to_json()


@pytest.mark.parametrize(
    ("profile_id", "version", "results", "payload"), CASES, ids=[f"{c[0]}-{type(c[3]).__name__}" for c in CASES]
)
def test_a_call_the_ocpp_library_sends_is_answered_as_the_library_expects(profile_id, version, results, payload):
    profile = shipped(profile_id)
    action = payload.__class__.__name__
    sent = unpack(library_frame(payload))
    _validate_payload(sent, version)  # the library's own check of its request
    answer = route(profile, CentralSide(profile), library_frame(payload), Ledger().context())
    assert answer.error is None, answer.error
    reply = unpack(answer.frame)
    assert isinstance(reply, CallResult) and reply.unique_id == "lib-1"
    reply.action = action
    _validate_payload(reply, version)  # raises on anything the schema refuses
    getattr(results, action)(**camel_to_snake_case(reply.payload))


def test_the_library_reads_a_refusal_as_its_own_error():
    profile = shipped("ocpp16")
    frame = library_frame(call16.Heartbeat())
    answer = route(profile, CentralSide(profile), frame, Ledger().context("pending"))
    error = unpack(answer.frame)
    assert error.error_code == "SecurityError" and error.unique_id == "lib-1"
    assert type(error.to_exception()).__name__ == "SecurityError"
