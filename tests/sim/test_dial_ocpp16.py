"""The shipped OCPP 1.6 charger simulator behaves like a charger (issue 11)
against a central system that answers like one (csms_helpers): it waits for an
Accepted boot and retries a Rejected/Pending one after the answered interval,
heartbeats at the answered interval, sends StartTransaction after an accepted
RemoteStartTransaction and uses the transactionId the central system assigns,
sends no MeterValues while idle, filters GetConfiguration by its keys and keeps
ChangeConfiguration values."""

from __future__ import annotations

from csms_helpers import start_csms, start_dialing


async def _dial(nursery, sim_pki, csms, path="/ocpp/plc"):
    sim = await start_dialing(nursery, sim_pki, "ocpp16-charger", csms.url(path))
    return sim, await csms.connected()


async def test_rejected_and_pending_boots_are_retried_after_the_interval_and_nothing_else_is_sent(sim_pki, nursery):
    csms = await start_csms(
        nursery,
        sim_pki,
        boots=(
            {"status": "Rejected", "interval": 1},
            {"status": "Pending", "interval": 1},
            {"status": "Accepted", "interval": 1},
        ),
    )
    sim, charger = await _dial(nursery, sim_pki, csms)
    action, boot = await charger.next_call()
    assert action == "BootNotification" and boot["chargePointVendor"] == "ACME"
    # Rejected: the next CALL is the retried boot, nothing before it
    assert (await charger.next_call())[0] == "BootNotification"
    # Pending: the same
    assert (await charger.next_call())[0] == "BootNotification"
    # Accepted: the status, then heartbeats at the answered interval (1 s, not 300)
    assert (await charger.next_call())[0] == "StatusNotification"
    assert (await charger.next_call())[0] == "Heartbeat"
    assert (await charger.next_call())[0] == "Heartbeat"
    assert charger.actions()[:4] == ["BootNotification"] * 3 + ["StatusNotification"]
    assert sim.sim.state["config"]["HeartbeatInterval"]["value"] == "1"
    charger.done.set()


async def test_configuration_is_filtered_and_kept_and_drives_the_heartbeat(sim_pki, nursery):
    csms = await start_csms(nursery, sim_pki)
    _, charger = await _dial(nursery, sim_pki, csms)
    await charger.expect("StatusNotification")
    listed = await charger.call("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
    assert listed == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["NoSuchKey"],
    }
    every = await charger.call("GetConfiguration", {})
    assert [k["key"] for k in every["configurationKey"]] == [
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "NumberOfConnectors",
    ] and every["unknownKey"] == []
    assert await charger.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}) == {
        "status": "Accepted"
    }
    assert await charger.call("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "2"}) == {
        "status": "Rejected"
    }
    assert await charger.call("ChangeConfiguration", {"key": "Nope", "value": "2"}) == {"status": "NotSupported"}
    kept = await charger.call("GetConfiguration", {"key": ["HeartbeatInterval", "NumberOfConnectors"]})
    assert [(k["key"], k["value"]) for k in kept["configurationKey"]] == [
        ("HeartbeatInterval", "1"),
        ("NumberOfConnectors", "1"),
    ]
    # the heartbeat now comes every second (at 300 s it would not come within the bound)
    await charger.expect("Heartbeat", timeout=10)
    await charger.expect("Heartbeat", timeout=10)
    charger.done.set()


async def test_remote_start_starts_a_transaction_with_the_central_systems_id(sim_pki, nursery):
    csms = await start_csms(nursery, sim_pki, transaction_id=42)
    _, charger = await _dial(nursery, sim_pki, csms)
    await charger.expect("StatusNotification")
    # meter values every second from here; none may come while idle
    assert await charger.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"}) == {
        "status": "Accepted"
    }
    assert await charger.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}) == {
        "status": "Accepted"
    }
    # two heartbeats: more than a meter period passed while idle
    await charger.expect("Heartbeat")
    await charger.expect("Heartbeat")
    assert "MeterValues" not in charger.actions()
    assert await charger.call("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1}) == {"status": "Accepted"}
    started = await charger.expect("StartTransaction")
    assert started["idTag"] == "TAG-1" and started["connectorId"] == 1 and isinstance(started["meterStart"], int)
    charging = await charger.expect("StatusNotification")
    assert charging["status"] == "Charging"
    meter = await charger.expect("MeterValues")
    assert meter["transactionId"] == 42
    assert await charger.call("RemoteStartTransaction", {"idTag": "TAG-2"}) == {"status": "Rejected"}
    assert await charger.call("RemoteStopTransaction", {"transactionId": 7}) == {"status": "Rejected"}
    assert await charger.call("RemoteStopTransaction", {"transactionId": 42}) == {"status": "Accepted"}
    stopped = await charger.expect("StopTransaction")
    assert stopped["transactionId"] == 42 and stopped["reason"] == "Remote"
    assert (await charger.expect("StatusNotification"))["status"] == "Available"
    # idle again: every MeterValues the charger ever sent carried the session's id
    await charger.expect("Heartbeat")
    await charger.expect("Heartbeat")
    sent = [payload["transactionId"] for action, payload in charger.calls if action == "MeterValues"]
    assert sent and set(sent) == {42}
    last_meter = max(i for i, (action, _) in enumerate(charger.calls) if action == "MeterValues")
    stop_at = charger.actions().index("StopTransaction")
    assert last_meter < stop_at
    charger.done.set()


async def test_a_start_refused_by_the_central_system_ends_the_session(sim_pki, nursery):
    csms = await start_csms(nursery, sim_pki, transaction_id=9)
    csms.answers["StartTransaction"] = lambda payload: {"transactionId": 9, "idTagInfo": {"status": "Invalid"}}
    _, charger = await _dial(nursery, sim_pki, csms)
    await charger.expect("StatusNotification")
    assert await charger.call("RemoteStartTransaction", {"idTag": "BAD"}) == {"status": "Accepted"}
    await charger.expect("StartTransaction")
    stopped = await charger.expect("StopTransaction")
    assert stopped["transactionId"] == 9 and stopped["reason"] == "DeAuthorized"
    assert (await charger.expect("StatusNotification"))["status"] == "Available"
    charger.done.set()
