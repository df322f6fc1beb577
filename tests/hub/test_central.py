"""The hub's central side answers what devices ask, as ocpp16 / ocpp201 say:
every answer fits the official OCPP response schema, every effect carries what
the hub records."""

from __future__ import annotations

import pytest
from central_helpers import NOW, Ledger, call, error_of, result_of, route, shipped
from ocpp_schemas import errors

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.central import CentralSide, Effect

P16, P201 = shipped("ocpp16"), shipped("ocpp201")
S16, S201 = CentralSide(P16), CentralSide(P201)
BOOT_16 = {
    "chargePointVendor": "ACME",
    "chargePointModel": "Wallbox-22",
    "firmwareVersion": "1.4.2",
    "chargePointSerialNumber": "SN-9",
}
BOOT_201 = {
    "chargingStation": {
        "vendorName": "ACME",
        "model": "Wallbox-22",
        "firmwareVersion": "2.0.3",
        "serialNumber": "SN-9",
    },
    "reason": "PowerUp",
}
METER_16 = [
    {"timestamp": NOW, "sampledValue": [{"value": "30", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}
]
EVENT = {
    "eventId": 1,
    "timestamp": NOW,
    "trigger": "Alerting",
    "actualValue": "95",
    "eventNotificationType": "HardWiredMonitor",
    "component": {"name": "TemperatureSensor"},
    "variable": {"name": "Temperature"},
}
METER_201 = [{"timestamp": NOW, "sampledValue": [{"value": 30.0, "measurand": "Energy.Active.Import.Register"}]}]


def answer16(action, payload, ledger=None, status="approved"):
    # what these tests have the hub accept must be what the official schema accepts
    assert errors("v16", action, payload, response=False) == []
    ledger = ledger or Ledger()
    answer = route(P16, S16, call(action, payload), ledger.context(status))
    return answer, result_of(answer) if answer.error is None else None


def answer201(action, payload, ledger=None, status="approved"):
    assert errors("v201", action, payload, response=False) == []
    ledger = ledger or Ledger()
    answer = route(P201, S201, call(action, payload), ledger.context(status, "CS-17"))
    return answer, result_of(answer) if answer.error is None else None


def fits(version, action, reply):
    assert errors(version, action, reply, response=True) == []
    return reply


@pytest.mark.parametrize(
    ("status", "expected", "interval"),
    [
        ("approved", "Accepted", 300),
        ("pending", "Pending", 60),
        ("unknown", "Pending", 60),
        ("blocked", "Rejected", 600),
    ],
)
def test_boot_notification_is_answered_by_the_registry_status_never_a_silent_accept(status, expected, interval):
    for version, answer_fn, payload in (("v16", answer16, BOOT_16), ("v201", answer201, BOOT_201)):
        answer, reply = answer_fn("BootNotification", payload, status=status)
        assert fits(version, "BootNotification", reply) == {
            "status": expected,
            "currentTime": NOW,
            "interval": interval,
        }
        (effect,) = answer.effects
        assert effect.kind == "boot"
        assert {k: effect.fields[k] for k in ("vendor", "model", "firmware", "serial", "boot_status", "interval")} == {
            "vendor": "ACME",
            "model": "Wallbox-22",
            "firmware": payload.get("firmwareVersion", "2.0.3"),
            "serial": "SN-9",
            "boot_status": expected,
            "interval": interval,
        }
    assert answer.effects[0].fields["reason"] == "PowerUp"  # 2.0.1 says why it booted


def test_a_boot_without_firmware_or_serial_records_none_for_them():
    answer, _ = answer16("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X"})
    assert answer.effects == (
        Effect(
            "boot",
            {
                "vendor": "ACME",
                "model": "X",
                "firmware": None,
                "serial": None,
                "boot_status": "Accepted",
                "interval": 300,
            },
        ),
    )


@pytest.mark.parametrize("status", ["pending", "unknown", "blocked"])
def test_a_device_that_is_not_approved_gets_security_error_for_anything_but_boot(status):
    answer, _ = answer16("Heartbeat", {}, status=status)
    assert error_of(answer, "ocpp16") == ("m-1", "SecurityError")
    ledger = Ledger()
    start = {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 0, "timestamp": NOW}
    answer, _ = answer16("StartTransaction", start, ledger, status=status)
    assert error_of(answer, "ocpp16") == ("m-1", "SecurityError") and ledger.started == []
    answer, _ = answer201(
        "StatusNotification",
        {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        status=status,
    )
    assert error_of(answer, "ocpp201") == ("m-1", "SecurityError")


def test_heartbeat_carries_the_callers_time():
    for version, answer_fn in (("v16", answer16), ("v201", answer201)):
        answer, reply = answer_fn("Heartbeat", {})
        assert fits(version, "Heartbeat", reply) == {"currentTime": NOW}
        assert answer.effects == (Effect("heartbeat", {}),)


def test_status_notification_and_meter_values_are_recorded():
    answer, reply = answer16(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": NOW}
    )
    assert fits("v16", "StatusNotification", reply) == {}
    assert answer.effects == (
        Effect(
            "status", {"connector_id": 1, "status": "Charging", "error_code": "NoError", "info": None, "timestamp": NOW}
        ),
    )
    answer, reply = answer16("MeterValues", {"connectorId": 1, "transactionId": 1001, "meterValue": METER_16})
    assert fits("v16", "MeterValues", reply) == {}
    assert answer.effects == (Effect("meter", {"connector_id": 1, "transaction_id": 1001, "meter_value": METER_16}),)
    answer, reply = answer201(
        "StatusNotification", {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    )
    assert fits("v201", "StatusNotification", reply) == {}
    assert answer.effects[0].fields == {"evse_id": 1, "connector_id": 1, "status": "Occupied", "timestamp": NOW}
    answer, reply = answer201("MeterValues", {"evseId": 1, "meterValue": METER_201})
    assert fits("v201", "MeterValues", reply) == {}
    assert answer.effects == (Effect("meter", {"evse_id": 1, "meter_value": METER_201}),)


@pytest.mark.parametrize(
    ("tag", "status"),
    [("04A2B3C4", "Accepted"), ("UNKNOWN1", "Invalid"), ("BLOCKED01", "Blocked"), ("OLD00001", "Expired")],
)
def test_authorize_answers_from_the_allow_list(tag, status):
    answer, reply = answer16("Authorize", {"idTag": tag})
    assert fits("v16", "Authorize", reply) == {"idTagInfo": {"status": status}}
    assert answer.effects == (Effect("authorize", {"id_tag": tag, "id_tag_status": status}),)
    answer, reply = answer201("Authorize", {"idToken": {"idToken": tag, "type": "ISO14443"}})
    assert fits("v201", "Authorize", reply) == {"idTokenInfo": {"status": status}}
    assert answer.effects == (Effect("authorize", {"id_tag": tag, "id_tag_status": status}),)


def test_start_transaction_gets_the_id_the_hub_assigns_and_stop_ends_it():
    ledger = Ledger()
    start = {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 120, "timestamp": NOW}
    answer, reply = answer16("StartTransaction", start, ledger)
    assert fits("v16", "StartTransaction", reply) == {"transactionId": 1001, "idTagInfo": {"status": "Accepted"}}
    assert ledger.started == [{"id_tag": "04A2B3C4", "connector_id": 1, "meter_start": 120, "timestamp": NOW}]
    assert answer.effects == (
        Effect(
            "transaction",
            {
                "id_tag": "04A2B3C4", "connector_id": 1, "meter_start": 120, "timestamp": NOW, "event": "started",
                "transaction_id": 1001, "assigned_by": "hub", "id_tag_status": "Accepted",
            },
        ),
    )  # fmt: skip
    _, again = answer16("StartTransaction", start, ledger)
    assert again["transactionId"] == 1002  # every session its own id
    stop = {"transactionId": 1001, "meterStop": 450, "timestamp": NOW, "reason": "Remote", "idTag": "04A2B3C4"}
    answer, reply = answer16("StopTransaction", stop, ledger)
    assert fits("v16", "StopTransaction", reply) == {"idTagInfo": {"status": "Accepted"}}
    assert ledger.stopped == [{"transaction_id": 1001, "meter_stop": 450, "reason": "Remote"}]
    assert answer.effects[0].fields == {
        "transaction_id": 1001, "meter_stop": 450, "reason": "Remote", "event": "ended", "assigned_by": "hub",
        "known": True, "id_tag": "04A2B3C4", "id_tag_status": "Accepted",
    }  # fmt: skip


def test_a_transaction_started_with_an_unknown_tag_is_numbered_and_told_invalid():
    # OCPP 1.6: the session exists on the charger already; it stops it itself
    ledger = Ledger()
    _, reply = answer16(
        "StartTransaction", {"connectorId": 1, "idTag": "NOBODY", "meterStart": 0, "timestamp": NOW}, ledger
    )
    assert fits("v16", "StartTransaction", reply) == {"transactionId": 1001, "idTagInfo": {"status": "Invalid"}}


def test_stop_of_an_unknown_transaction_is_answered_and_reported_unknown():
    answer, reply = answer16("StopTransaction", {"transactionId": 77, "meterStop": 1, "timestamp": NOW})
    assert fits("v16", "StopTransaction", reply) == {}  # no idTag given: no idTagInfo
    assert answer.effects[0].fields["known"] is False


def test_security_event_and_vendor_messages_are_answered():
    answer, reply = answer16("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": NOW})
    assert fits("v16", "SecurityEventNotification", reply) == {}
    assert answer.effects == (
        Effect("security_event", {"type": "TamperDetectionActivated", "timestamp": NOW, "tech_info": None}),
    )
    answer, reply = answer201(
        "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": NOW, "techInfo": "2.0.4"}
    )
    assert fits("v201", "SecurityEventNotification", reply) == {}
    assert answer.effects[0].fields == {"type": "FirmwareUpdated", "timestamp": NOW, "tech_info": "2.0.4"}
    for version, answer_fn in (("v16", answer16), ("v201", answer201)):
        _, reply = answer_fn("DataTransfer", {"vendorId": "com.acme", "messageId": "x"})
        assert fits(version, "DataTransfer", reply) == {"status": "UnknownVendorId"}
    _, reply = answer16("FirmwareStatusNotification", {"status": "Installed"})
    assert fits("v16", "FirmwareStatusNotification", reply) == {}
    _, reply = answer16("DiagnosticsStatusNotification", {"status": "Uploaded"})
    assert fits("v16", "DiagnosticsStatusNotification", reply) == {}
    for action, payload in (
        ("FirmwareStatusNotification", {"status": "Installed", "requestId": 3}),
        ("LogStatusNotification", {"status": "Uploaded"}),
        ("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [EVENT]}),
    ):
        answer, reply = answer201(action, payload)
        assert fits("v201", action, reply) == {} and answer.effects[0].kind == "notification"


def tx_event(event_type, seq, **extra):
    return {
        "eventType": event_type,
        "timestamp": NOW,
        "triggerReason": {"Started": "RemoteStart", "Updated": "MeterValuePeriodic", "Ended": "RemoteStop"}[event_type],
        "seqNo": seq,
        "transactionInfo": {"transactionId": "CS-17-0001", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }


def test_transaction_event_records_the_stations_own_transaction_id():
    ledger = Ledger()
    token = {"idToken": "04A2B3C4", "type": "ISO14443"}
    answer, reply = answer201("TransactionEvent", tx_event("Started", 0, idToken=token), ledger)
    assert fits("v201", "TransactionEvent", reply) == {"idTokenInfo": {"status": "Accepted"}}
    fields = answer.effects[0].fields
    assert answer.effects[0].kind == "transaction"
    assert (fields["event"], fields["transaction_id"], fields["assigned_by"], fields["seq_no"]) == (
        "started",
        "CS-17-0001",
        "station",
        0,
    )
    assert (fields["evse_id"], fields["connector_id"], fields["id_tag"], fields["id_tag_status"]) == (
        1,
        1,
        "04A2B3C4",
        "Accepted",
    )
    answer, reply = answer201("TransactionEvent", tx_event("Updated", 1, meterValue=METER_201), ledger)
    assert fits("v201", "TransactionEvent", reply) == {}  # no idToken: nothing to authorize
    assert answer.effects[0].fields["event"] == "updated" and answer.effects[0].fields["meter_value"] == METER_201
    answer, reply = answer201(
        "TransactionEvent", tx_event("Ended", 2, idToken={"idToken": "NOBODY", "type": "ISO14443"}), ledger
    )
    assert fits("v201", "TransactionEvent", reply) == {"idTokenInfo": {"status": "Invalid"}}
    assert answer.effects[0].fields["event"] == "ended"
    # the station numbers its transactions: the hub's numbering is not asked
    assert ledger.started == [] and ledger.stopped == []


def test_notify_report_parts_are_recorded_as_a_report():
    data = [
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"value": "300"}],
        }
    ]
    answer, reply = answer201(
        "NotifyReport", {"requestId": 4, "generatedAt": NOW, "seqNo": 0, "tbc": False, "reportData": data}
    )
    assert fits("v201", "NotifyReport", reply) == {}
    assert answer.effects == (
        Effect("report", {"request_id": 4, "seq_no": 0, "tbc": False, "generated_at": NOW, "report_data": data}),
    )


def test_a_registry_that_fails_is_answered_with_internal_error_not_a_crash():
    ledger = Ledger()

    def broken(_fields):
        raise OSError("database is locked")

    ledger.start = broken
    answer = route(
        P16,
        S16,
        call("StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": NOW}),
        ledger.context(),
    )
    assert error_of(answer, "ocpp16") == ("m-1", "InternalError")
    assert "database is locked" in answer.error


def test_a_failing_allow_list_starts_no_transaction():
    # the charger retries a StartTransaction that got an error: it must not find a half-started one
    ledger = Ledger()

    def broken(_tag):
        raise OSError("database is locked")

    ledger.id_tag_status = broken
    start = {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 0, "timestamp": NOW}
    answer = route(P16, S16, call("StartTransaction", start), ledger.context())
    assert error_of(answer, "ocpp16") == ("m-1", "InternalError") and ledger.started == []


def test_a_profile_without_a_central_side_is_refused_with_one_line():
    with pytest.raises(InvalidInput, match=r"profile ocpp16-charger has no \[central\] table"):
        CentralSide(shipped("ocpp16-charger"))
