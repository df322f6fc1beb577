"""The mock-device handler for `serve --replay`, served over real TLS."""

from __future__ import annotations

import functools
import json

import trio

from wsctl.core.record.format import Event, Header, encode_event, encode_header
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.net.mockserver import replay_handler
from wsctl.net.server import serve


def write(path):
    items = [
        (0.0, "open", None, None),
        (0.1, "text", "in", '{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{"speed":0}}'),
        (1.0, "text", "out", '{"jsonrpc":"2.0","id":1,"method":"conveyor.status","params":{}}'),
        (1.2, "text", "in", '{"jsonrpc":"2.0","id":1,"result":{"state":"stopped"}}'),
        (2.0, "binary", "out", b"\x01\x02"),
        (2.05, "binary", "in", b"\x03\x04"),
    ]
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://plc/", started=1.0)))
        for t, kind, direction, data in items:
            f.write(encode_event(Event(t=t, kind=kind, dir=direction, conn=1, data=data)))


async def test_mock_device_answers_from_the_recording(plant, tmp_path):
    path = tmp_path / "mock.jsonl"
    write(path)
    unmatched = []
    handler = replay_handler(
        path,
        profile=load_profile("conveyor"),
        ignore=["/id"],
        speed=2.0,
        on_unmatched=lambda conn, message: unmatched.append(message),
    )
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve, handler, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        url = f"wss://localhost:{server.port}/"
        async with open_device(url, **plant.client_kwargs()) as a, open_device(url, **plant.client_kwargs()) as b:
            # unsolicited telemetry comes by itself, on every connection
            for dev in (a, b):
                assert json.loads(await dev.receive(timeout=5))["method"] == "conveyor.telemetry"
            start = trio.current_time()
            await a.send('{"jsonrpc":"2.0","id":77,"method":"conveyor.status","params":{}}')
            reply = json.loads(await a.receive(timeout=5))
            assert reply == {"jsonrpc": "2.0", "id": 77, "result": {"state": "stopped"}}
            assert trio.current_time() - start >= 0.08  # 0.2 s recorded, at speed 2: never sooner
            await b.send(b"\x01\x02")
            assert await b.receive(timeout=5) == b"\x03\x04"
            await b.send('{"jsonrpc":"2.0","id":5,"method":"conveyor.estop","params":{}}')
            error = json.loads(await b.receive(timeout=5))
            assert error["id"] == 5 and error["error"]["code"] == -32601
        nursery.cancel_scope.cancel()
    assert unmatched == ['{"jsonrpc":"2.0","id":5,"method":"conveyor.estop","params":{}}']
