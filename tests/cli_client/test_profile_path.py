"""The URL's path wins over the profile's (issue 9, item 13): a device that
lives at `/` stays reachable with a profile; a URL without any path gets the
profile's (`/rpc` for the conveyor)."""

from __future__ import annotations

import json

import pytest
from client_helpers import WebsocketsDevice, device_context, wsctl


@pytest.fixture
def path_recording_device(plant):
    paths: list[str] = []

    async def handler(ws):
        paths.append(ws.request.path)
        async for text in ws:
            request = json.loads(text)
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {"state": "stopped", "speed": 0}})
            )

    with WebsocketsDevice(handler, device_context(plant), subprotocols=["conveyor.v1"]) as port:
        yield port, paths


@pytest.mark.parametrize("suffix, expected", [("/", "/"), ("", "/rpc"), ("/api/v2", "/api/v2")])
def test_typed_path_wins_and_a_missing_one_comes_from_the_profile(plant, path_recording_device, suffix, expected):
    port, paths = path_recording_device
    out = wsctl("send", f"wss://127.0.0.1:{port}{suffix}", "status", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == 0, out.stderr
    assert paths == [expected]
