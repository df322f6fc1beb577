"""The shipped central-system profiles (ocpp16, ocpp201) against the official
OCPP JSON schemas: every command wsctl frames, every device call the hub
answers, and the success checks' values."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import Call, _validate_payload
from ocpp_schemas import VERSIONS, errors, validator

from wsctl.core.pointer import MISSING
from wsctl.core.profile.codec import ClientCodec, bind_params
from wsctl.files.profiles import load_profile

ID_TOKEN = {"idToken": "04A2B3C4", "type": "ISO14443"}
SCHEDULE_16 = {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}
PROFILE_16 = {
    "chargingProfileId": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": SCHEDULE_16,
}
PROFILE_201 = {
    "id": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}
    ],
}
COMPONENT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n"
HASH_DATA = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32, "serialNumber": "1f"}
#: profile -> command key -> parameters with every optional one given
EXAMPLES = {
    "ocpp16": {
        "remote_start": {
            "id_tag": "04A2B3C4",
            "connector_id": 1,
            "charging_profile": {**PROFILE_16, "chargingProfilePurpose": "TxProfile"},
        },
        "remote_stop": {"transaction_id": 17},
        "reset": {"type": "Hard"},
        "unlock_connector": {"connector_id": 1},
        "change_availability": {"connector_id": 0, "type": "Inoperative"},
        "get_configuration": {"key": ["HeartbeatInterval"]},
        "change_configuration": {"key": "HeartbeatInterval", "value": "60"},
        "clear_cache": {},
        "trigger_message": {"requested_message": "StatusNotification", "connector_id": 1},
        "data_transfer": {"vendor_id": "com.acme", "message_id": "hello", "data": "{}"},
        "renew_certificate": {"requested_message": "SignChargePointCertificate", "connector_id": 0},
        "certificate_signed": {"certificate_chain": PEM},
        "install_certificate": {"certificate_type": "CentralSystemRootCertificate", "certificate": PEM},
        "get_installed_certificate_ids": {"certificate_type": "ManufacturerRootCertificate"},
        "delete_certificate": {"certificate_hash_data": HASH_DATA},
        "set_charging_profile": {"connector_id": 0, "cs_charging_profiles": PROFILE_16},
        "clear_charging_profile": {
            "id": 7,
            "connector_id": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "stack_level": 0,
        },
        "get_composite_schedule": {"connector_id": 1, "duration": 3600, "charging_rate_unit": "W"},
    },
    "ocpp201": {
        "remote_start": {
            "id_token": ID_TOKEN,
            "remote_start_id": 42,
            "evse_id": 1,
            "charging_profile": {**PROFILE_201, "chargingProfilePurpose": "TxProfile"},
        },
        "remote_stop": {"transaction_id": "CS-0001-1001"},
        "reset": {"type": "Immediate", "evse_id": 1},
        "unlock_connector": {"evse_id": 1, "connector_id": 1},
        "change_availability": {"operational_status": "Inoperative", "evse": {"id": 1, "connectorId": 1}},
        "get_variables": {"get_variable_data": [COMPONENT]},
        "set_variables": {"set_variable_data": [{**COMPONENT, "attributeValue": "60"}]},
        "get_base_report": {"request_id": 1, "report_base": "SummaryInventory"},
        "trigger_message": {"requested_message": "TransactionEvent", "evse": {"id": 1}},
        "set_charging_profile": {"evse_id": 0, "charging_profile": PROFILE_201},
        "clear_charging_profile": {"charging_profile_id": 7, "charging_profile_criteria": {"evseId": 0}},
        "data_transfer": {"vendor_id": "com.acme", "message_id": "hello", "data": "{}"},
        "certificate_signed": {"certificate_chain": PEM, "certificate_type": "ChargingStationCertificate"},
        "install_certificate": {"certificate_type": "CSMSRootCertificate", "certificate": PEM},
        "get_installed_certificate_ids": {"certificate_type": ["CSMSRootCertificate", "V2GRootCertificate"]},
        "delete_certificate": {"certificate_hash_data": HASH_DATA},
    },
}
#: what issue 11 asks each profile to carry (wire names)
REQUIRED_COMMANDS = {
    "ocpp16": {
        "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
        "ChangeConfiguration", "GetConfiguration", "ClearCache", "TriggerMessage", "DataTransfer",
        "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule",
        # certificate management (issue 12): the 1.6 security extension
        "ExtendedTriggerMessage", "CertificateSigned", "InstallCertificate", "GetInstalledCertificateIds",
        "DeleteCertificate",
    },
    "ocpp201": {
        "RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
        "GetVariables", "SetVariables", "GetBaseReport", "TriggerMessage", "SetChargingProfile",
        "ClearChargingProfile", "DataTransfer",
        "CertificateSigned", "InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate",
    },
}  # fmt: skip
REQUIRED_ANSWERS = {
    "ocpp16": {
        "BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "Authorize", "StartTransaction",
        "StopTransaction", "SecurityEventNotification",
    },
    "ocpp201": {
        "BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "Authorize", "TransactionEvent",
        "NotifyReport", "SecurityEventNotification",
    },
}  # fmt: skip
PROFILES = tuple(VERSIONS)


@pytest.fixture(params=PROFILES)
def profile(request, sandbox):
    return load_profile(request.param, cwd=sandbox[0], environ=sandbox[1])


def framed(profile, key, params):
    command = profile.commands[key]
    out = ClientCodec(profile, new_uuid=lambda: "m-1").call(
        command, bind_params(command, params, from_text=False), now=0.0
    )
    frame = json.loads(out.wire)
    assert frame[:1] == [2] and frame[2] == command.name and len(frame) == 4
    return frame[3]


def test_transport_framing_and_the_commands_issue_11_asks_for(profile):
    assert profile.dialer == "device" and profile.framing.preset == "ocpp-j" and profile.path == "/ocpp/{id}"
    assert profile.subprotocols == ({"ocpp16": "ocpp1.6", "ocpp201": "ocpp2.0.1"}[profile.id],)
    assert {c.name for c in profile.commands.values()} == REQUIRED_COMMANDS[profile.id]
    assert set(EXAMPLES[profile.id]) == set(profile.commands)
    assert REQUIRED_ANSWERS[profile.id] <= set(profile.central.answers)


def test_every_command_with_every_parameter_fits_the_official_request_schema(profile):
    version = VERSIONS[profile.id]
    for key, params in EXAMPLES[profile.id].items():
        payload = framed(profile, key, params)
        assert errors(version, profile.commands[key].name, payload, response=False) == [], key


def test_every_command_with_only_its_required_parameters_fits_the_schema(profile):
    version = VERSIONS[profile.id]
    for key, params in EXAMPLES[profile.id].items():
        command = profile.commands[key]
        required = {name: value for name, value in params.items() if command.param(name).required}
        assert errors(version, command.name, framed(profile, key, required), response=False) == [], key


def test_every_command_parameter_is_a_field_of_the_official_schema(profile):
    # a misspelt wire name would be caught by additionalProperties only when given
    version = VERSIONS[profile.id]
    for command in profile.commands.values():
        schema = validator(version, command.name, response=False).schema
        for param in command.params:
            assert param.wire_name in schema["properties"], (command.key, param.wire_name)
            always_sent = param.required or param.default is not MISSING
            assert always_sent == (param.wire_name in schema.get("required", [])), (command.key, param.name)


def test_every_success_check_names_a_value_the_official_response_allows(profile):
    version = VERSIONS[profile.id]
    checked = 0
    for command in profile.commands.values():
        for pointer, expected in command.success:
            field = pointer.lstrip("/")
            assert errors(version, command.name, {field: expected}, response=True) == [], command.key
            checked += 1
    assert checked >= 8


def test_dangerous_commands_ask_for_confirmation(profile):
    dangerous = {c.name for c in profile.commands.values() if c.dangerous}
    assert {"Reset", "ChangeAvailability", "UnlockConnector"} <= dangerous
    for command in profile.commands.values():
        assert not command.dangerous or command.confirm
    assert profile.commands["reset"].allowed_roles == {"engineer", "supervisor"}


def test_every_answered_event_mirrors_the_official_request_schema(profile):
    """Field names, required-ness, enums and CiString lengths of every event the
    hub answers are the official schema's, so the hub's checks refuse what the
    schema refuses (at the top level) and nothing it allows."""
    version = VERSIONS[profile.id]
    for answer in profile.central.answers.values():
        event = profile.events[answer.event]
        schema = validator(version, event.name, response=False).schema
        required = set(schema.get("required", []))
        assert {f.name for f in event.fields if f.required} == required, event.name
        for field in event.fields:
            spec = schema["properties"][field.name]
            spec = schema["definitions"][spec["$ref"].split("/")[-1]] if "$ref" in spec else spec
            assert field.type == spec["type"], (event.name, field.name)
            assert set(field.enum or ()) == set(spec.get("enum", ())), (event.name, field.name)
            if "maxLength" in spec:
                # (?s): a PEM field's length counts its line breaks too
                length = re.fullmatch(r"(?:\(\?s\))?\^\.\{[01],(\d+)\}\$", field.pattern)
                assert length is not None and length.group(1) == str(spec["maxLength"]), (event.name, field.name)
        # and the answer's reply, rendered, is checked in tests/hub/test_central.py
        validator(version, event.name, response=True)


def test_the_ocpp_library_takes_every_command_as_its_own_call(profile):
    """A charger built with the PyPI `ocpp` library validates each CALL with its
    own schemas and hands it to its handler as its call dataclass."""
    version = {"ocpp16": "1.6", "ocpp201": "2.0.1"}[profile.id]
    calls = importlib.import_module(f"ocpp.{VERSIONS[profile.id]}.call")
    for key, params in EXAMPLES[profile.id].items():
        name = profile.commands[key].name
        payload = framed(profile, key, params)
        _validate_payload(Call("id-1", name, payload), version)
        getattr(calls, name)(**camel_to_snake_case(payload))
