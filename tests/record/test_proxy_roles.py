"""The recording proxy must not lend its own operator role to the tools behind it.

Every tool here connects with its own certificate: alice is an engineer, bob
an operator; the proxy connects upstream as alice (engineer)."""

from __future__ import annotations

import functools
import json

import pytest
import trio
from record_helpers import recorded

from wsctl.core.errors import HandshakeRejected
from wsctl.files.profiles import load_profile
from wsctl.files.recording_reader import open_recording
from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy, covers
from wsctl.net.recorder import Recorder
from wsctl.net.server import serve


def rpc(rid, method, **params):
    doc = {"jsonrpc": "2.0", "method": f"conveyor.{method}", "params": params}
    if rid is not None:
        doc["id"] = rid
    return json.dumps(doc)


async def setup(nursery, plant, path, *, profile):
    """An upstream that answers every request with its id and keeps what it got."""
    got: list[str] = []

    async def device(conn):
        async for message in conn:
            got.append(message)
            await conn.send(json.dumps({"jsonrpc": "2.0", "id": json.loads(message).get("id"), "result": "ok"}))

    upstream = await nursery.start(functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs()))
    rec = Recorder(path, source="proxy")
    relay = RecordingProxy(f"wss://localhost:{upstream.port}/", plant.client_kwargs("alice"), rec, profile=profile)
    server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
    return got, rec, f"wss://localhost:{server.port}/"


def test_role_ladder_rule():
    assert covers("engineer", "engineer") and covers("supervisor", "engineer")
    assert not covers("operator", "engineer") and not covers(None, "observer")
    assert not covers("security-admin", "operator") and not covers("supervisor", "security-admin")
    assert covers("security-admin", "security-admin") and covers(None, None)


async def test_with_a_profile_a_command_above_the_tools_role_is_refused_not_forwarded(plant, tmp_path):
    path = tmp_path / "roles.jsonl"
    async with trio.open_nursery() as nursery:
        got, rec, url = await setup(nursery, plant, path, profile=load_profile("conveyor"))
        async with open_device(url, **plant.client_kwargs("bob")) as dev:
            await dev.send(rpc(1, "status"))  # operator+: relayed
            assert json.loads(await dev.receive(timeout=5)) == {"jsonrpc": "2.0", "id": 1, "result": "ok"}
            await dev.send(rpc(1, "set_speed", speed=100))  # engineer+; the reused id must not hide it
            answer = json.loads(await dev.receive(timeout=5))
            assert answer["id"] == 1 and answer["error"]["code"] == -32001
            assert "operator may not run set_speed" in answer["error"]["message"]
            await dev.send(rpc(None, "set_speed", speed=100))  # a notification: no command to judge, no answer
            await dev.send(rpc(2, "frobnicate"))  # unknown to the profile: needs the proxy's own role
            assert json.loads(await dev.receive(timeout=5))["error"]["code"] == -32001
        async with open_device(url, **plant.client_kwargs("alice")) as dev:
            await dev.send(rpc(3, "set_speed", speed=100))  # an engineer may
            assert json.loads(await dev.receive(timeout=5))["result"] == "ok"
        await recorded(path, lambda e: e.kind == "close", count=2)  # both tools' sessions
        nursery.cancel_scope.cancel()
    rec.close()
    assert [json.loads(m)["method"] for m in got] == ["conveyor.status", "conveyor.set_speed"]
    assert json.loads(got[1])["id"] == 3
    events = list(open_recording(path))
    refused = [e for e in events if e.kind == "error"]
    assert [e.info["refused"] for e in refused] == ["set_speed", None, None]
    assert refused[0].error.startswith("proxy refused: role operator") and refused[0].info["peer"]["name"] == "bob"
    assert "reply" not in refused[1].info  # the notification got no answer
    # nothing refused appears as a message: a replay must not send it
    sent = [json.loads(e.data)["method"] for e in events if e.is_message and e.dir == "out"]
    assert sent == ["conveyor.status", "conveyor.set_speed"]


async def test_without_a_profile_a_tool_below_the_proxys_role_is_refused_with_403(plant, tmp_path):
    async with trio.open_nursery() as nursery:
        got, rec, url = await setup(nursery, plant, tmp_path / "noprofile.jsonl", profile=None)
        with pytest.raises(HandshakeRejected) as info:
            async with open_device(url, **plant.client_kwargs("bob")):
                pass
        assert info.value.status == 403 and "role operator may not act through this proxy" in info.value.message
        async with open_device(url, **plant.client_kwargs("alice")) as dev:
            await dev.send(rpc(1, "set_speed", speed=5))
            assert json.loads(await dev.receive(timeout=5))["result"] == "ok"
        nursery.cancel_scope.cancel()
    assert len(got) == 1


async def test_pointer_redaction_reaches_a_refused_request(plant, tmp_path):
    """The refused request is kept in the error event's `request` field, not as a
    message; `--redact /params/password` must blank it there too."""
    path = tmp_path / "redacted.jsonl"
    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, lambda conn: conn.receive(), host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        rec = Recorder(path, source="proxy", redact=["/params/password"])
        relay = RecordingProxy(
            f"wss://localhost:{upstream.port}/", plant.client_kwargs("alice"), rec, profile=load_profile("conveyor")
        )
        server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs("bob")) as dev:
            await dev.send(rpc(1, "set_speed", speed=100, password="hunter2"))  # engineer+: refused
            assert json.loads(await dev.receive(timeout=5))["error"]["code"] == -32001
            await dev.send(
                '{"jsonrpc":"2.0","id":2,"method":"conveyor.status","params":{"password":"s3cret"},"params":{}}'
            )
            assert json.loads(await dev.receive(timeout=5))["error"]["code"] == -32600  # ambiguous
        nursery.cancel_scope.cancel()
    rec.close()
    raw = path.read_bytes()
    assert b"hunter2" not in raw and b"s3cret" not in raw
    first, second = [e for e in open_recording(path) if e.kind == "error"]
    assert json.loads(first.info["request"])["params"] == {"speed": 100, "password": "[REDACTED]"}
    # a key given twice keeps both places, each masked (a cJSON device reads the first)
    assert (
        second.info["request"]
        == '{"jsonrpc":"2.0","id":2,"method":"conveyor.status","params":{"password":"[REDACTED]"},"params":{}}'
    )
    assert rec.redactor.hits == 2
