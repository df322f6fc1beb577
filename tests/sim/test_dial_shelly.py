"""The shipped Shelly Gen2 profile (issue 11: the hub is not OCPP-only): a
JSON-RPC device with Shelly's src/dst that sends its full status on connecting,
then accepts calls by role and notifies changes — listening (`serve`) and
dialing out (`serve --dial`, Shelly's outbound websocket)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import trio
from sim_central import CentralSystem, recv_json

from wsctl.core.errors import NotAuthorized
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device, serve
from wsctl.net.simulate import Simulator

DEVICE_SRC = "shellyplus1pm-a8032ab12345"


async def _first_event(dev, name: str):
    async for event in dev.events():
        if event.name == name:
            return event
    raise AssertionError(f"connection ended before {name}")


async def test_listening_shelly_notifies_on_connect_and_switches_by_role(sim_pki, nursery):
    sim = Simulator(load_profile("shelly-gen2"), seed=1)
    await nursery.start(sim.run)
    server = await nursery.start(
        functools.partial(serve, sim.handler, cert_chain=sim_pki.device.chain, key=sim_pki.device.key, ca=sim_pki.root)
    )
    url = f"wss://localhost:{server.port}/rpc"
    with trio.fail_after(20):
        async with open_device(url, profile="shelly-gen2", **sim_pki.kw(sim_pki.alice)) as dev:
            full = await _first_event(dev, "NotifyFullStatus")
            assert full.payload["switch:0"]["output"] is False and isinstance(full.payload["ts"], float)
            assert await dev.call("switch_set", id=0, on=True) == {"was_on": False}
            changed = await _first_event(dev, "NotifyStatus")
            assert changed.payload["switch:0"]["output"] is True
            assert (await dev.call("get_status"))["switch:0"]["output"] is True
            assert await dev.call("switch_set", id=0, on=False) == {"was_on": True}
            assert (await dev.call("switch_get_status", id=0))["output"] is False
        async with open_device(url, profile="shelly-gen2", **sim_pki.kw(sim_pki.bob)) as observer:
            assert (await observer.call("switch_get_status", id=0))["output"] is False
            with pytest.raises(NotAuthorized):
                await observer.call("switch_set", id=0, on=True)
        # a device certificate is a client certificate now, but it carries no role
        device_cert = dict(ca=sim_pki.root, cert=sim_pki.device.chain, key=sim_pki.device.key, connect_timeout=5)
        async with open_device(url, profile="shelly-gen2", **device_cert) as other_device:
            with pytest.raises(NotAuthorized):
                await other_device.call("switch_get_status", id=0)
    assert sim.sim.state["output"] is False


async def outbound_session(ws, n):
    """What a server sees from a Shelly's outbound websocket: its full status first,
    then answers with Shelly's src/dst, and a notification for the change."""
    full = await recv_json(ws)
    await ws.send(json.dumps({"id": 1, "src": "wsctl", "method": "Switch.Set", "params": {"id": 0, "on": True}}))
    answered = await recv_json(ws)
    notified = await recv_json(ws)
    await ws.send(json.dumps({"id": 2, "src": "wsctl", "method": "Switch.Set", "params": {"id": 0, "on": "yes"}}))
    refused = await recv_json(ws)
    await ws.close()
    return {"full": full, "answered": answered, "notified": notified, "refused": refused}


def test_serve_dial_shelly_outbound_websocket(sim_pki):
    central = CentralSystem(sim_pki, outbound_session, subprotocols=()).start()
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsctl",
                "serve",
                "--profile",
                "shelly-gen2",
                "--dial",
                f"wss://localhost:{central.port}/devices/plc",
                "--certs",
                str(sim_pki.store.path),
                "--device",
                "plc",
                "--central-role",
                "operator",
                "--redial",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert central.wait(10)
    finally:
        central.stop()
    assert out.returncode == 0, out.stderr
    (result,) = central.results
    assert not isinstance(result, BaseException), repr(result)
    assert central.paths == ["/devices/plc"]
    full = result["full"]
    assert (full["src"], full["dst"], full["method"]) == (DEVICE_SRC, "wsctl", "NotifyFullStatus") and "id" not in full
    assert result["answered"] == {"id": 1, "src": DEVICE_SRC, "dst": "wsctl", "result": {"was_on": False}}
    notified = result["notified"]
    assert notified["method"] == "NotifyStatus" and notified["params"]["switch:0"]["output"] is True
    refused = result["refused"]
    assert refused["id"] == 2 and refused["error"]["code"] == -103
