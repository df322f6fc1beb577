"""The proxy's role gate against devices that read messages differently from Python.

The upstreams here parse like real firmware: `cjson_device` keeps the first of
duplicate keys and finds keys without regard to case (cJSON's
`cJSON_GetObjectItem`, ESP-IDF), `scpi_device` runs every command of a
message split at line breaks and at ';'.  Both keep what they executed, so a
refused command is proven never to reach the device.  The tool is bob
(operator); the proxy holds alice's role (engineer) upstream."""

from __future__ import annotations

import functools
import json

import trio

from wsctl.files.profiles import load_profile
from wsctl.files.recording_reader import open_recording
from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy
from wsctl.net.recorder import Recorder
from wsctl.net.server import serve


def _first_wins(pairs):
    doc = {}
    for key, value in pairs:
        doc.setdefault(key, value)
    return doc


def _get(doc, name):
    """cJSON_GetObjectItem: the first key equal to ``name`` ignoring case."""
    return next((v for k, v in doc.items() if k.lower() == name), None) if isinstance(doc, dict) else None


def cjson_device(executed):
    async def handler(conn):
        async for message in conn:
            doc = json.loads(message, object_pairs_hook=_first_wins)
            method = _get(doc, "method")  # a request is whatever names a method
            if method is not None:
                executed.append((method, _get(doc, "params")))
            await conn.send(json.dumps({"jsonrpc": "2.0", "id": _get(doc, "id"), "result": "ok"}))

    return handler


def scpi_device(executed):
    async def handler(conn):
        async for message in conn:
            for line in message.replace("\r", "\n").splitlines():
                executed.extend(c.strip() for c in line.split(";") if c.strip())
            await conn.send("OK")

    return handler


async def start(nursery, plant, device, path, profile):
    upstream = await nursery.start(functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs()))
    rec = Recorder(path, source="proxy")
    relay = RecordingProxy(
        f"wss://localhost:{upstream.port}/", plant.client_kwargs("alice"), rec, profile=load_profile(profile)
    )
    server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
    return rec, f"wss://localhost:{server.port}/"


def refusals(path):
    return [e for e in open_recording(path) if e.kind == "error"]


def forwarded(path):
    return [e.data for e in open_recording(path) if e.is_message and e.dir == "out"]


AMBIGUOUS_JSON = [
    # Python reads estop (anyone may), cJSON the first: set_speed (engineer+)
    '{"jsonrpc":"2.0","id":2,"method":"conveyor.set_speed","params":{"speed":100},"method":"conveyor.estop"}',
    # a request that also carries result / error: Python takes it for a reply and asks no role
    '{"jsonrpc":"2.0","id":3,"method":"conveyor.set_speed","params":{"speed":100},"result":null}',
    '{"jsonrpc":"2.0","id":4,"method":"conveyor.set_speed","params":{"speed":100},"error":{"code":1}}',
    # keys that differ only in case: cJSON's lookup finds "Method" first
    '{"jsonrpc":"2.0","id":5,"Method":"conveyor.set_speed","method":"conveyor.status","params":{"speed":100}}',
    # a NUL ends the key for C: cJSON sees "method" twice and keeps the first
    '{"jsonrpc":"2.0","id":6,"method\\u0000":"conveyor.set_speed","method":"conveyor.status"}',
    # duplicates deeper down and of the id
    '{"jsonrpc":"2.0","id":7,"method":"conveyor.status","params":{"speed":1,"speed":2}}',
    '{"jsonrpc":"2.0","id":8,"method":"conveyor.status","id":9}',
]


async def test_ambiguous_json_never_reaches_a_cjson_device(plant, tmp_path):
    path = tmp_path / "gate-json.jsonl"
    executed: list = []
    ordinary = '{ "method": "conveyor.status", "id": 1, "jsonrpc": "2.0" }'  # spacing and key order of its own
    async with trio.open_nursery() as nursery:
        rec, url = await start(nursery, plant, cjson_device(executed), path, "conveyor")
        async with open_device(url, **plant.client_kwargs("bob")) as dev:
            for message in AMBIGUOUS_JSON:
                await dev.send(message)
                answer = json.loads(await dev.receive(timeout=5))
                assert (
                    answer["error"]["code"] == -32600
                    and "ambiguous message not forwarded" in answer["error"]["message"]
                )
            await dev.send(ordinary)
            assert json.loads(await dev.receive(timeout=5))["result"] == "ok"
        nursery.cancel_scope.cancel()
    rec.close()
    assert executed == [("conveyor.status", None)]
    assert forwarded(path) == [ordinary]  # byte for byte
    events = refusals(path)
    assert [e.info["request"] for e in events] == AMBIGUOUS_JSON
    assert all(e.info["why"] == "ambiguous" and e.error.startswith("proxy refused: ambiguous") for e in events)
    assert "duplicate key 'method'" in events[0].error and "call and result" in events[1].error
    assert "differ only in case" in events[3].error and "NUL" in events[4].error


async def test_ambiguity_is_refused_for_a_tool_whose_role_covers_the_proxy_too(plant, tmp_path):
    path = tmp_path / "gate-engineer.jsonl"
    executed: list = []
    async with trio.open_nursery() as nursery:
        rec, url = await start(nursery, plant, cjson_device(executed), path, "conveyor")
        async with open_device(url, **plant.client_kwargs("alice")) as dev:
            await dev.send(AMBIGUOUS_JSON[0])
            assert json.loads(await dev.receive(timeout=5))["id"] == 2  # both readings agree on the id
            await dev.send('{"jsonrpc":"2.0","id":10,"method":"conveyor.set_speed","params":{"speed":100}}')
            assert json.loads(await dev.receive(timeout=5))["result"] == "ok"
        nursery.cancel_scope.cancel()
    rec.close()
    assert executed == [("conveyor.set_speed", {"speed": 100})]


SECOND_COMMANDS = ["*IDN?\n*RST", "*IDN?\r*RST", "*IDN?;*RST", "MEAS:VOLT?\r\n*RST\r\n", "VOLT 5;*RST"]


async def test_a_second_text_command_never_reaches_the_device(plant, tmp_path):
    path = tmp_path / "gate-text.jsonl"
    executed: list = []
    async with trio.open_nursery() as nursery:
        rec, url = await start(nursery, plant, scpi_device(executed), path, "psu")
        async with open_device(url, **plant.client_kwargs("bob")) as dev:
            for message in SECOND_COMMANDS:
                await dev.send(message)
                assert (await dev.receive(timeout=5)).startswith("ERR 400 bad request: ambiguous message not forwarded")
            await dev.send("*RST")  # engineer+: refused by role, as before
            assert (await dev.receive(timeout=5)).startswith("ERR -203 Command protected")
            for ordinary in ("*IDN?", "VOLT 5\r\n", "MEAS:VOLT?\n"):  # one trailing line end is a terminator
                await dev.send(ordinary)
                assert await dev.receive(timeout=5) == "OK"
        nursery.cancel_scope.cancel()
    rec.close()
    assert executed == ["*IDN?", "VOLT 5", "MEAS:VOLT?"]
    assert forwarded(path) == ["*IDN?", "VOLT 5\r\n", "MEAS:VOLT?\n"]
    events = refusals(path)
    assert [e.info["request"] for e in events] == [*SECOND_COMMANDS, "*RST"]
    assert "U+000A" in events[0].error and "U+000D" in events[1].error and "separator ';'" in events[2].error
    assert events[-1].info["refused"] == "reset" and "why" not in events[-1].info
