"""Every message the hub sent to a charger and accepted from it, in a whole
session (boot, status, meter values, a remote start and stop, configuration,
a trigger, a reset), validates against the official OCPP 1.6 JSON schemas —
read from the hub's own recording of the connection."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import trio
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_devices_dial_in import dial_charger, wait_online

from wsctl.net.api import open_device


def schema(version: str, name: str) -> dict:
    return json.loads(resources.files("ocpp").joinpath(version, "schemas", f"{name}.json").read_text("utf-8"))


def validate(version: str, name: str, payload: dict) -> None:
    doc = schema(version, name)
    jsonschema.validators.validator_for(doc)(doc).validate(payload)


def check_frames(frames: list[list], version: str = "v16") -> int:
    actions: dict[str, str] = {}
    checked = 0
    for frame in frames:
        if frame[0] == 2:
            _, call_id, action, payload = frame
            actions[call_id] = action
            # 1.6 names a call's schema by its action, 2.0.1 by action + "Request"
            validate(version, action if version == "v16" else f"{action}Request", payload)
        elif frame[0] == 3:
            _, call_id, payload = frame
            validate(version, f"{actions[call_id]}Response", payload)
        else:
            raise AssertionError(f"a CALLERROR in a clean session: {frame}")
        checked += 1
    return checked


async def test_a_whole_session_through_the_hub_fits_the_ocpp16_schemas(hub_pki, registry, tmp_path):
    registry.add_device("CP-1", profile="ocpp16")
    registry.add_id_tag("04A2B3C4")
    out = tmp_path / "rec"
    out.mkdir()
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, record_dir=str(out)) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1", scale=0.02)
            link = await wait_online(hub, "CP-1")
            with trio.fail_after(10):
                await link.booted.wait()
            operator = client_tls(hub_pki, hub_pki.alice)
            async with open_device(hub_url(hub, "/devices/CP-1"), profile="ocpp16", **operator) as dev:
                await dev.call("get_configuration", key=["HeartbeatInterval", "NoSuchKey"])
                await dev.call("change_configuration", key="HeartbeatInterval", value="120")
                await dev.call("trigger_message", requested_message="StatusNotification")
                await dev.call("remote_start", id_tag="04A2B3C4", connector_id=1)
                with trio.fail_after(10):
                    while not registry.open_transactions("CP-1"):
                        await trio.sleep(0.01)
                (tx,) = registry.open_transactions("CP-1")
                with trio.fail_after(20):
                    async for item in dev.events():
                        if getattr(item, "name", None) == "MeterValues":
                            break
                await dev.call("remote_stop", transaction_id=tx["transaction_id"])
                with trio.fail_after(10):
                    while registry.open_transactions("CP-1"):
                        await trio.sleep(0.01)
                await dev.call("reset", type="Soft")
            await link.close(1000, "done")
            with trio.fail_after(10):
                await link.gone.wait()
            nursery.cancel_scope.cancel()
    (recording,) = list(out.iterdir())
    events = [json.loads(line) for line in recording.read_text().splitlines()[1:]]
    frames = [json.loads(e["data"]) for e in events if e.get("kind") == "text"]
    names = {f[2] for f in frames if f[0] == 2}
    assert {"BootNotification", "StatusNotification", "StartTransaction", "MeterValues", "StopTransaction"} <= names
    assert {"GetConfiguration", "ChangeConfiguration", "TriggerMessage", "RemoteStartTransaction", "Reset"} <= names
    assert check_frames(frames) == len(frames)
