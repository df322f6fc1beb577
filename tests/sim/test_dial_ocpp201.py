"""The shipped OCPP 2.0.1 station simulator boots like the 1.6 charger (issue 11)
against a trio central system (csms_helpers): nothing before an Accepted boot, a
Rejected boot retried after the answered interval, heartbeats at the answered
interval; TriggerMessage sends the message it names (1.6 and 2.0.1)."""

from __future__ import annotations

from csms_helpers import start_csms, start_dialing


async def _dial(nursery, sim_pki, csms, profile):
    await start_dialing(nursery, sim_pki, profile, csms.url("/ocpp/plc"))
    return await csms.connected()


async def test_station_retries_a_rejected_boot_then_heartbeats_at_the_answered_interval(sim_pki, nursery):
    csms = await start_csms(
        nursery,
        sim_pki,
        subprotocols=("ocpp2.0.1",),
        boots=({"status": "Rejected", "interval": 1}, {"status": "Accepted", "interval": 1}),
    )
    station = await _dial(nursery, sim_pki, csms, "ocpp201-charger")
    action, boot = await station.next_call()
    assert action == "BootNotification" and boot["reason"] == "PowerUp"
    assert (await station.next_call())[0] == "BootNotification"
    action, status = await station.next_call()
    assert action == "StatusNotification" and (status["evseId"], status["connectorId"]) == (1, 1)
    await station.expect("Heartbeat")
    await station.expect("Heartbeat")
    assert station.actions()[:3] == ["BootNotification", "BootNotification", "StatusNotification"]
    station.done.set()


async def test_trigger_message_sends_what_it_names(sim_pki, nursery):
    for profile, subprotocol, unsupported in (
        ("ocpp16-charger", "ocpp1.6", "DiagnosticsStatusNotification"),
        ("ocpp201-charger", "ocpp2.0.1", "LogStatusNotification"),
    ):
        csms = await start_csms(nursery, sim_pki, subprotocols=(subprotocol,))
        charger = await _dial(nursery, sim_pki, csms, profile)
        await charger.expect("StatusNotification")
        assert await charger.call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
        await charger.expect("Heartbeat")
        assert await charger.call("TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
        await charger.expect("BootNotification")
        assert await charger.call("TriggerMessage", {"requestedMessage": unsupported}) == {"status": "NotImplemented"}
        charger.done.set()
