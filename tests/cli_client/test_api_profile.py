"""The Python API with a profile: `await dev.call(...)`, `async for event in dev.events()`."""

from __future__ import annotations

import pytest
import trio
from client_helpers import PASSWORD

import wsctl
from wsctl.core.errors import DeviceError, InvalidInput, NotAuthorized


def _client(plant):
    op = plant.certs / "operators" / "alice"
    return {
        "ca": str(plant.certs / "ca" / "root.crt"),
        "cert": str(op / "chain.pem"),
        "key": str(op / "key.pem"),
        "password": PASSWORD,
    }


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


async def test_ocpp_calls_wait_for_the_one_outstanding_slot(plant):
    """OCPP allows one outstanding CALL per direction: concurrent calls queue."""
    import functools
    import json

    from wsctl.net.api import serve

    seen: list = []
    outstanding = 0
    peak = 0

    async def charger(conn):
        # reads on while answers are pending, so a client that sent a second
        # CALL before the first CALLRESULT would be seen doing it
        nonlocal outstanding, peak

        async def answer(frame):
            nonlocal outstanding
            await trio.sleep(0.05)
            outstanding -= 1
            await conn.send(json.dumps([3, frame[1], {"status": "Accepted", "configurationKey": []}]))

        async with trio.open_nursery() as answers:
            async for message in conn:
                frame = json.loads(message)
                outstanding += 1
                peak = max(peak, outstanding)
                seen.append(frame[2])
                answers.start_soon(answer, frame)

    dev = plant.certs / "devices" / "dev"
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    serve,
                    charger,
                    host="127.0.0.1",
                    port=0,
                    cert_chain=str(dev / "chain.pem"),
                    key=str(dev / "key.pem"),
                    password=PASSWORD,
                    ca=str(plant.certs / "ca" / "root.crt"),
                    subprotocols=["ocpp1.6"],
                )
            )
            async with wsctl.open_device(server.url, profile="ocpp16-charger", **_client(plant)) as device:
                replies = []

                async def one(command):
                    replies.append(await device.call(command))

                async with trio.open_nursery() as calls:
                    for _ in range(3):
                        calls.start_soon(one, "get_configuration")
            server.close()
    assert peak == 1 and seen == ["GetConfiguration"] * 3 and len(replies) == 3


def test_a_text_devices_role_refusal_is_not_authorized_even_as_a_string_code():
    # a text device's code comes out of a regex group as "-203"; the profile says -203
    from wsctl.core.profile.codec import DeviceErrorInfo, Reply
    from wsctl.files.profiles import load_profile
    from wsctl.net.session import raise_for_reply

    psu = load_profile("psu")
    code = psu.framing.errors["not_authorized"].code
    reply = Reply(
        None, next(iter(psu.commands.values())), None, "ERR", error=DeviceErrorInfo(str(code), "Command protected")
    )
    with pytest.raises(NotAuthorized):
        raise_for_reply(reply, psu, "psu-1")
    other = Reply(
        None, next(iter(psu.commands.values())), None, "ERR", error=DeviceErrorInfo("-222", "Data out of range")
    )
    with pytest.raises(DeviceError):
        raise_for_reply(other, psu, "psu-1")
