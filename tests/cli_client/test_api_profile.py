"""The Python API with a profile: `await dev.call(...)`, `async for event in dev.events()`."""

from __future__ import annotations

import pytest
import trio

from client_helpers import PASSWORD

import wsctl
from wsctl.core.errors import DeviceError, InvalidInput, NotAuthorized


def _client(plant):
    op = plant.certs / "operators" / "alice"
    return {"ca": str(plant.certs / "ca" / "root.crt"), "cert": str(op / "chain.pem"), "key": str(op / "key.pem"), "password": PASSWORD}


async def test_call_returns_the_decoded_reply_and_events_stream(plant, jsonrpc_device):
    url, received = jsonrpc_device
    with trio.fail_after(20):
        async with wsctl.open_device(url, profile="conveyor", **_client(plant)) as dev:
            assert dev.subprotocol == "conveyor.v1"
            reply = await dev.call("set_speed", speed=1200)
            assert reply == {"method": "conveyor.set_speed", "params": {"speed": 1200}, "subprotocol": "conveyor.v1"}
            async for event in dev.events():
                assert event.name == "conveyor.telemetry" and event.payload == {"speed": 5}
                break


async def test_call_errors_are_typed(plant, jsonrpc_device):
    url, received = jsonrpc_device
    with trio.fail_after(20):
        async with wsctl.open_device(url, profile="conveyor", **_client(plant)) as dev:
            with pytest.raises(InvalidInput, match="above the maximum"):
                await dev.call("set_speed", speed=5000)
            assert received == []
            with pytest.raises(DeviceError, match="belt jammed"):
                await dev.call("start")
            with pytest.raises(NotAuthorized):
                await dev.call("estop")


async def test_call_without_a_profile_says_so(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    with trio.fail_after(20):
        async with wsctl.open_device(url, subprotocols=["conveyor.v1"], **_client(plant)) as dev:
            with pytest.raises(InvalidInput, match="needs a profile"):
                await dev.call("status")
