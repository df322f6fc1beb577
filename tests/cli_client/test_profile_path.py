"""The URL's path wins over the profile's (issue 9, item 13): a device that
lives at `/` stays reachable with a profile; a URL without any path gets the
profile's (`/rpc` for the conveyor)."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading

import pytest
from client_helpers import PASSWORD, wsctl


@pytest.fixture
def path_recording_device(plant):
    from websockets.asyncio.server import serve

    dev = plant.certs / "devices" / "dev"
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(plant.certs / "ca" / "root.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(dev / "chain.pem", dev / "key.pem", password=PASSWORD)
    paths: list[str] = []
    state: dict = {}
    started = threading.Event()

    async def handler(ws):
        paths.append(ws.request.path)
        async for text in ws:
            request = json.loads(text)
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {"state": "stopped", "speed": 0}})
            )

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=ctx, subprotocols=["conveyor.v1"]) as srv:
            state["port"] = srv.sockets[0].getsockname()[1]
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = asyncio.Event()
            started.set()
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield state["port"], paths
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


@pytest.mark.parametrize("suffix, expected", [("/", "/"), ("", "/rpc"), ("/api/v2", "/api/v2")])
def test_typed_path_wins_and_a_missing_one_comes_from_the_profile(plant, path_recording_device, suffix, expected):
    port, paths = path_recording_device
    out = wsctl("send", f"wss://127.0.0.1:{port}{suffix}", "status", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == 0, out.stderr
    assert paths == [expected]
