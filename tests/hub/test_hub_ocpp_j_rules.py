"""OCPP-J rules the hub's central side keeps, on a real hub over real TLS with
raw frames: the subprotocol a charger must offer, message ids, malformed
replies never relayed as they are, a retried StartTransaction, bounded audit
rows, nested payload checks, id tags regardless of case, NoAuthorization
tokens, and no trigger the hub would then answer NotImplemented.  Answers are
checked against the official OCPP JSON schemas."""

from __future__ import annotations

import contextlib
import json

import pytest
import trio
from central_helpers import CALLERROR_CODES
from hub_helpers import client_tls, hub_url, running_hub
from ocpp_schemas import errors as schema_errors

from wsctl.core.errors import HandshakeRejected
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.registry.audit import MAX_AUDIT_PARAMS

SUBPROTOCOL = {"ocpp16": "ocpp1.6", "ocpp201": "ocpp2.0.1"}
VERSION = {"ocpp16": "v16", "ocpp201": "v201"}
START = {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 1200, "timestamp": "2026-12-02T10:00:00Z"}


@contextlib.asynccontextmanager
async def hub_with(hub_pki, registry, **devices: str):
    for name, profile in devices.items():
        registry.add_device(name.replace("_", "-"), profile=profile)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            yield hub
            nursery.cancel_scope.cancel()


def charger(hub, pki, name: str, subprotocols: list[str]):
    url = hub_url(hub, f"/ocpp/{name}")
    return open_device(url, subprotocols=subprotocols, **client_tls(pki, pki.chargers[name]))


async def ask(dev, frame):
    await dev.send(frame if isinstance(frame, str) else json.dumps(frame))
    with trio.fail_after(10):
        return json.loads(await dev.receive())


def fits_schema(profile: str, action: str, answer: list) -> None:
    assert answer[0] == 3, answer
    assert schema_errors(VERSION[profile], action, answer[2], response=True) == [], answer


@pytest.mark.parametrize("offered", [[], ["ocpp2.0.1"], ["OCPP1.6"]])
async def test_a_charger_offering_none_of_its_versions_is_refused_at_the_upgrade(hub_pki, registry, offered):
    async with hub_with(hub_pki, registry, CP_1="ocpp16") as hub:
        with pytest.raises(HandshakeRejected, match=r"HTTP 400: CP-1: offer the subprotocol ocpp1\.6"):
            async with charger(hub, hub_pki, "CP-1", offered):
                pass
        assert "CP-1" not in hub.links
        # offering it among others agrees on it; an operator's tool need offer none
        async with charger(hub, hub_pki, "CP-1", ["ocpp2.0.1", "ocpp1.6"]) as dev:
            assert dev.subprotocol == "ocpp1.6"
            with trio.fail_after(10):
                while "CP-1" not in hub.links:
                    await trio.sleep(0.02)
            async with open_device(hub_url(hub, "/devices/CP-1"), **client_tls(hub_pki, hub_pki.bob)) as op:
                assert op.subprotocol is None
    refused = [a for a in registry.audit_log(device="CP-1") if a["outcome"] == "refused"]
    assert refused and "offer the subprotocol ocpp1.6" in refused[0]["detail"]


async def test_a_retried_start_transaction_gets_the_open_transactions_id(hub_pki, registry):
    registry.add_id_tag("04A2B3C4")
    async with hub_with(hub_pki, registry, CP_1="ocpp16") as hub:
        async with charger(hub, hub_pki, "CP-1", ["ocpp1.6"]) as dev:
            first = await ask(dev, [2, "tx-1", "StartTransaction", START])
            fits_schema("ocpp16", "StartTransaction", first)
            resent = await ask(dev, [2, "tx-1", "StartTransaction", START])  # the same message again
            retried = await ask(dev, [2, "tx-1b", "StartTransaction", START])  # its content, a new id
            assert first[2]["transactionId"] == resent[2]["transactionId"] == retried[2]["transactionId"]
            assert len(registry.open_transactions("CP-1")) == 1
            # another reading is another session
            other = await ask(dev, [2, "tx-2", "StartTransaction", {**START, "meterStart": 1300}])
            assert other[2]["transactionId"] > first[2]["transactionId"]
            stopped = {"transactionId": first[2]["transactionId"], "meterStop": 1300, "timestamp": START["timestamp"]}
            fits_schema("ocpp16", "StopTransaction", await ask(dev, [2, "st", "StopTransaction", stopped]))
            retried = await ask(dev, [2, "tx-3", "StartTransaction", START])  # that one is closed now
            assert retried[2]["transactionId"] > other[2]["transactionId"]


async def test_audit_rows_keep_meter_values_as_their_number(hub_pki, registry):
    sampled = [{"value": float(i), "measurand": "Energy.Active.Import.Register"} for i in range(40)]
    meter = [{"timestamp": "2026-12-02T10:00:00Z", "sampledValue": sampled} for _ in range(20)]
    event = {
        "eventType": "Updated",
        "timestamp": "2026-12-02T10:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "t-1"},
        "meterValue": meter,
    }
    async with hub_with(hub_pki, registry, CP_2="ocpp201") as hub:
        async with charger(hub, hub_pki, "CP-2", ["ocpp2.0.1"]) as dev:
            fits_schema("ocpp201", "TransactionEvent", await ask(dev, [2, "e", "TransactionEvent", event]))
    (row,) = [a for a in registry.audit_log(device="CP-2") if a["action"] == "transaction"]
    assert row["params"]["meter_value"] == 20 and row["params"]["transaction_id"] == "t-1"
    assert len(json.dumps(row["params"])) < MAX_AUDIT_PARAMS


def test_big_audit_parameters_are_cut_to_their_beginning(registry):
    registry.audit(
        at=1.0, actor="alice", role="engineer", device="CP-1", action="x", params={"d": "y" * 100_000}, outcome="ok"
    )
    (row,) = registry.audit_log(device="CP-1")
    assert row["params"]["truncated"] is True and row["params"]["size"] > 100_000
    assert len(json.dumps(row["params"])) <= MAX_AUDIT_PARAMS


@pytest.mark.parametrize(("profile", "name"), [("ocpp16", "CP-1"), ("ocpp201", "CP-2")])
@pytest.mark.parametrize("bad_id", ["x" * 37, 17, "", None])
async def test_a_message_id_that_is_not_a_short_string_is_a_framing_error(hub_pki, registry, profile, name, bad_id):
    code = {"ocpp16": "FormationViolation", "ocpp201": "RpcFrameworkError"}[profile]
    async with hub_with(hub_pki, registry, **{name.replace("-", "_"): profile}) as hub:
        async with charger(hub, hub_pki, name, [SUBPROTOCOL[profile]]) as dev:
            answer = await ask(dev, [2, bad_id, "Heartbeat", {}])
            assert answer[:3] == [4, "-1", code], answer
            assert answer[2] in CALLERROR_CODES[profile] and isinstance(answer[4], dict)
            fits_schema(profile, "Heartbeat", await ask(dev, [2, "x" * 36, "Heartbeat", {}]))


@pytest.mark.parametrize(
    "reply",
    [
        lambda i: [4, i, 123, None, "x"],
        lambda i: [4],
        lambda i: [4, i, "GenericError", "words"],
        lambda i: [3, i, "not-an-object"],
        lambda i: [3, i],
    ],
)
async def test_a_malformed_reply_reaches_the_operator_as_a_well_formed_error(hub_pki, registry, reply):
    async with hub_with(hub_pki, registry, CP_1="ocpp16") as hub:
        async with charger(hub, hub_pki, "CP-1", ["ocpp1.6"]) as dev:
            with trio.fail_after(10):
                while "CP-1" not in hub.links:
                    await trio.sleep(0.02)
            async with open_device(hub_url(hub, "/devices/CP-1"), **client_tls(hub_pki, hub_pki.alice)) as op:
                await op.send(json.dumps([2, "op-1", "ClearCache", {}]))
                with trio.fail_after(10):
                    call = json.loads(await dev.receive())
                await dev.send(json.dumps(reply(call[1])))
                with trio.fail_after(10):
                    answer = json.loads(await op.receive())
    assert len(answer) == 5 and answer[:3] == [4, "op-1", "GenericError"], answer
    assert isinstance(answer[3], str) and "not valid OCPP-J" in answer[3] and answer[4] == {}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ([2, "m", "MeterValues", {"connectorId": 1, "meterValue": []}], "OccurenceConstraintViolation"),
        ([2, "m", "MeterValues", {"connectorId": 1, "meterValue": ["junk", 5]}], "TypeConstraintViolation"),
        (
            [2, "m", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "soon", "sampledValue": []}]}],
            "PropertyConstraintViolation",
        ),
        ([2, "m", "StartTransaction", {**START, "timestamp": "not a date"}], "PropertyConstraintViolation"),
        ([2, "m", "StartTransaction", {**START, "meterStart": 2**70}], "PropertyConstraintViolation"),
        ([2, "m", "StopTransaction", {"transactionId": 2**70, "meterStop": 1, "timestamp": START["timestamp"]}], "PropertyConstraintViolation"),
    ],
)  # fmt: skip
async def test_nested_shapes_and_64_bit_integers_are_checked(hub_pki, registry, frame, code):
    async with hub_with(hub_pki, registry, CP_1="ocpp16") as hub:
        async with charger(hub, hub_pki, "CP-1", ["ocpp1.6"]) as dev:
            answer = await ask(dev, frame)
            assert answer[:3] == [4, "m", code], answer
            good = {
                "connectorId": 1,
                "meterValue": [{"timestamp": "2026-12-02T10:00:00.5+01:00", "sampledValue": [{"value": "12"}]}],
            }
            fits_schema("ocpp16", "MeterValues", await ask(dev, [2, "ok", "MeterValues", good]))
    assert registry.open_transactions("CP-1") == []


async def test_id_tags_are_found_regardless_of_case_and_no_authorization_is_the_registrys_choice(hub_pki, registry):
    registry.add_id_tag("04A2B3C4")
    registry.add_id_tag("BLOCKED01", status="Blocked")
    no_auth = {"idToken": {"idToken": "", "type": "NoAuthorization"}}
    started = {
        "eventType": "Started",
        "timestamp": "2026-12-02T10:00:00Z",
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "free-1"},
        **no_auth,
    }
    async with hub_with(hub_pki, registry, CP_1="ocpp16", CP_2="ocpp201") as hub:
        async with charger(hub, hub_pki, "CP-1", ["ocpp1.6"]) as dev:
            for tag, status in (("04a2b3c4", "Accepted"), ("blocked01", "Blocked"), ("04a2b3c5", "Invalid")):
                answer = await ask(dev, [2, "a", "Authorize", {"idTag": tag}])
                fits_schema("ocpp16", "Authorize", answer)
                assert answer[2]["idTagInfo"]["status"] == status, tag
        async with charger(hub, hub_pki, "CP-2", ["ocpp2.0.1"]) as dev:
            answer = await ask(dev, [2, "a", "Authorize", no_auth])
            fits_schema("ocpp201", "Authorize", answer)
            assert answer[2]["idTokenInfo"]["status"] == "Invalid"  # free charging not allowed
            registry.add_id_tag("NoAuthorization")
            answer = await ask(dev, [2, "b", "Authorize", no_auth])
            assert answer[2]["idTokenInfo"]["status"] == "Accepted"
            answer = await ask(dev, [2, "t", "TransactionEvent", started])
            fits_schema("ocpp201", "TransactionEvent", answer)
            assert answer[2]["idTokenInfo"]["status"] == "Accepted"


#: what each trigger makes the charger send
TRIGGERED = {"SignChargePointCertificate": "SignCertificate", "SignChargingStationCertificate": "SignCertificate",
             "SignV2GCertificate": "SignCertificate", "SignCombinedCertificate": "SignCertificate"}  # fmt: skip


@pytest.mark.parametrize(("profile", "command"), [("ocpp16", "renew_certificate"), ("ocpp16", "trigger_message"),
                                                   ("ocpp201", "trigger_message")])  # fmt: skip
def test_every_message_the_hub_may_trigger_is_one_it_answers(profile, command):
    loaded = load_profile(profile)
    assert loaded.central is not None
    requested = next(p for p in loaded.command(command).params if p.name == "requested_message")
    for value in requested.enum:
        assert TRIGGERED.get(value, value) in loaded.central.answers, f"{command} offers {value}"
