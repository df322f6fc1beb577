"""The hub is not OCPP 1.6 only: an OCPP 2.0.1 station (wsctl's simulator)
whose whole session fits the official 2.0.1 schemas, and a Shelly Gen2 device
dialing out with JSON-RPC (the outbound-websocket pattern)."""

from __future__ import annotations

import json

import trio
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_devices_dial_in import dial_charger, wait_online
from test_hub_ocpp_schemas import check_frames

from wsctl.net.api import open_device


async def test_ocpp201_station_through_the_hub(hub_pki, registry, tmp_path):
    registry.add_device("CP-3", profile="ocpp201")
    registry.add_id_tag("04A2B3C4")
    out = tmp_path / "rec"
    out.mkdir()
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, record_dir=str(out)) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-3", profile="ocpp201-charger", scale=0.02)
            link = await wait_online(hub, "CP-3")
            with trio.fail_after(10):
                await link.booted.wait()
            assert link.boot_status == "Accepted"
            operator = client_tls(hub_pki, hub_pki.alice)
            async with open_device(hub_url(hub, "/devices/CP-3"), profile="ocpp201", **operator) as dev:
                token = {"idToken": "04A2B3C4", "type": "ISO14443"}
                assert (await dev.call("remote_start", id_token=token, remote_start_id=7))["status"] == "Accepted"
                with trio.fail_after(10):
                    while not registry.open_transactions("CP-3"):
                        await trio.sleep(0.01)
                (tx,) = registry.open_transactions("CP-3")
                assert tx["station_transaction_id"]
                assert (await dev.call("remote_stop", transaction_id=tx["station_transaction_id"]))[
                    "status"
                ] == "Accepted"
                with trio.fail_after(10):
                    while registry.open_transactions("CP-3"):
                        await trio.sleep(0.01)
                await dev.call(
                    "get_variables",
                    get_variable_data=[
                        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
                    ],
                )
                await dev.call("reset", type="OnIdle")
            await link.close(1000, "done")
            with trio.fail_after(10):
                await link.gone.wait()
            nursery.cancel_scope.cancel()
    (recording,) = list(out.iterdir())
    events = [json.loads(line) for line in recording.read_text().splitlines()[1:]]
    frames = [json.loads(e["data"]) for e in events if e.get("kind") == "text"]
    names = {f[2] for f in frames if f[0] == 2}
    assert {"BootNotification", "StatusNotification", "TransactionEvent", "RequestStartTransaction"} <= names, names
    assert check_frames(frames, "v201") == len(frames)


async def test_shelly_dials_out_and_is_switched_by_name(hub_pki, registry):
    registry.add_device("shelly-1", profile="shelly-gen2")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            assert "/devices/{id}" in [t.text for t in hub.device_paths]
            operator = client_tls(hub_pki, hub_pki.olga)
            await dial_charger(nursery, hub, hub_pki, "shelly-1", path="/devices/shelly-1", profile="shelly-gen2")
            await wait_online(hub, "shelly-1")
            async with open_device(hub_url(hub, "/devices/shelly-1"), profile="shelly-gen2", **operator) as dev:
                await dev.call("switch_set", id=0, on=True)
                status = await dev.call("switch_get_status", id=0)
                assert status["output"] is True
                with trio.fail_after(10):
                    async for item in dev.events():
                        if getattr(item, "name", None) == "NotifyStatus":
                            break
            nursery.cancel_scope.cancel()
