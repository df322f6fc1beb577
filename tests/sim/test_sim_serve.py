"""The simulator over real wss with mutual TLS, in-process: replies and state
across commands and connections, telemetry, a denial with its audit line,
malformed frames, faults, a python-websockets client."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl

import pytest
import trio
from sim_profiles import JSONRPC, TEXT, load

from wsctl.core.profile.model import Faults
from wsctl.net.api import open_device, serve
from wsctl.net.simulate import AuditLog, Simulator


@pytest.fixture
def start_sim(sim_pki, nursery, tmp_path):
    """``sim, server, records = await start_sim(profile_text, **Simulator kwargs)``"""

    async def start(text=JSONRPC, **kw):
        records: list[dict] = []
        kw.setdefault("audit", AuditLog(tmp_path / "audit.jsonl"))
        sim = Simulator(load(text), seed=1, report=records.append, **kw)
        await nursery.start(sim.run)
        server = await nursery.start(
            functools.partial(
                serve,
                sim.handler,
                cert_chain=sim_pki.device.chain,
                key=sim_pki.device.key,
                ca=sim_pki.root,
                subprotocols=sim.profile.subprotocols,
            )
        )
        return sim, server, records

    return start


async def rpc(dev, method, params=None, rid=1):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    await dev.send(json.dumps(msg))
    return await reply(dev)


async def reply(dev, timeout=5):
    """The next message that is not a notification."""
    while True:
        doc = json.loads(await dev.receive(timeout=timeout))
        if "id" in doc:
            return doc


async def test_replies_and_state_across_commands_and_connections(start_sim, sim_pki):
    sim, server, records = await start_sim()
    async with open_device(server.url, subprotocols=["belt.v1"], **sim_pki.kw(sim_pki.alice)) as dev:
        assert dev.subprotocol == "belt.v1"
        assert (await rpc(dev, "belt.start"))["result"]["state"] == "running"
        assert (await rpc(dev, "belt.set_speed", {"speed": 1800}, rid=2))["result"]["speed"] == 1800
    # another operator on another connection sees the same device
    async with open_device(server.url, **sim_pki.kw(sim_pki.bob)) as dev:
        assert (await rpc(dev, "belt.status", rid=1))["result"] == {
            "state": "running",
            "speed": 1800,
            "count": sim.sim.state["count"],
        }
    assert [(r["identity"]["name"], r["role"], r["command"], r["result"]) for r in records] == [
        ("alice", "engineer", "start", "ok"),
        ("alice", "engineer", "set_speed", "ok"),
        ("bob", "observer", "status", "ok"),
    ]
    assert records[1]["params"] == {"speed": 1800, "ramp": 1.5}


async def test_observer_is_denied_with_the_protocol_error_and_an_audit_line(start_sim, sim_pki, tmp_path):
    sim, server, records = await start_sim()
    async with open_device(server.url, **sim_pki.kw(sim_pki.bob)) as dev:
        denied = await rpc(dev, "belt.start")
        assert denied["id"] == 1 and denied["error"]["code"] == -32001 and "observer" in denied["error"]["message"]
        assert sim.sim.state["state"] == "stopped"
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert (line["identity"]["name"], line["role"], line["command"], line["result"]) == (
        "bob",
        "observer",
        "start",
        "denied",
    )
    assert line["identity"]["fingerprint"].startswith("sha256:") and line["time"].endswith("Z")
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


async def test_malformed_frames_get_protocol_errors_and_the_connection_carries_on(start_sim, sim_pki, tmp_path):
    sim, server, records = await start_sim()
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        await dev.send("{oops")
        assert (await reply(dev))["error"]["code"] == -32700
        await dev.send(b'{"jsonrpc":"2.0","id":1,"method":"belt.st\xffop"}')
        assert (await reply(dev))["error"]["code"] == -32700
        await dev.send('{"jsonrpc":"2.0","id":2,"method":"belt.set_speed","params":{"speed":99999}}')
        bad = await reply(dev)
        assert bad["id"] == 2 and bad["error"]["code"] == -32602
        await dev.send('{"jsonrpc":"2.0","id":3,"method":"belt.nope"}')
        assert (await reply(dev))["error"]["code"] == -32601
        assert (await rpc(dev, "belt.status", rid=4))["result"]["state"] == "stopped"
    assert [r["result"] for r in records] == ["invalid", "invalid", "invalid", "invalid", "ok"]


async def test_telemetry_reaches_every_connected_client(start_sim, sim_pki):
    sim, server, _ = await start_sim(interval_scale=0.05)  # every 50 ms
    async with (
        open_device(server.url, **sim_pki.kw(sim_pki.alice)) as a,
        open_device(server.url, **sim_pki.kw(sim_pki.bob)) as b,
    ):
        for dev in (a, b):
            counts = []
            while len(counts) < 3:
                doc = json.loads(await dev.receive(timeout=5))
                if doc.get("method") == "belt.telemetry" and "count" in doc["params"]:
                    counts.append(doc["params"]["count"])
            assert counts == sorted(counts) and len(set(counts)) == 3


async def test_telemetry_reaches_every_client_when_sent_in_batches(start_sim, sim_pki, monkeypatch):
    # the simulator wakes writers EMIT_BATCH connections at a time; with a batch
    # of 2, five clients span three batches, and each gets every period's frame
    import contextlib

    import wsctl.net.simulate as simulate

    monkeypatch.setattr(simulate, "EMIT_BATCH", 2)
    sim, server, _ = await start_sim(interval_scale=0.05)
    async with contextlib.AsyncExitStack() as stack:
        devs = [await stack.enter_async_context(open_device(server.url, **sim_pki.kw(sim_pki.alice))) for _ in range(5)]
        for dev in devs:
            counts = []
            while len(counts) < 3:
                doc = json.loads(await dev.receive(timeout=5))
                if doc.get("method") == "belt.telemetry" and "count" in doc["params"]:
                    counts.append(doc["params"]["count"])
            assert counts == list(range(counts[0], counts[0] + 3))


async def test_then_close_step_sends_the_reply_then_closes(start_sim, sim_pki):
    _, server, _ = await start_sim()
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        assert (await rpc(dev, "belt.quit"))["result"] == {"bye": True}
        with pytest.raises(Exception) as info:
            await reply(dev, timeout=3)
        assert getattr(info.value, "code", None) == 1000


async def test_delayed_replies_do_not_block_other_requests(start_sim, sim_pki):
    sim, server, _ = await start_sim()
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        start = trio.current_time()
        await dev.send('{"jsonrpc":"2.0","id":1,"method":"belt.slow"}')  # its reply comes after 0.5 s
        # the reply to the later request comes first: the slow one did not block it
        assert (await rpc(dev, "belt.ping", rid=2))["id"] == 2
        # id 1 is still in progress: reusing it is a collision
        await dev.send('{"jsonrpc":"2.0","id":1,"method":"belt.status"}')
        collided = await reply(dev)
        assert collided["id"] == 1 and collided["error"]["code"] == -32600
        late = await reply(dev)
        assert late["id"] == 1 and late["result"]["state"] == "stopped"
        assert trio.current_time() - start >= 0.45  # the delay was kept (never sooner)


async def test_dropped_reply_fault(start_sim, sim_pki):
    sim, server, records = await start_sim(faults=Faults(drop_reply_probability=1.0))
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        await dev.send('{"jsonrpc":"2.0","id":1,"method":"belt.start"}')
        with pytest.raises(Exception) as info:
            await reply(dev, timeout=0.5)
        assert type(info.value).__name__ == "Timeout"
    assert sim.sim.state["state"] == "running" and "dropped" in records[0]["detail"]


async def test_text_profile_over_the_wire(start_sim, sim_pki):
    _, server, _ = await start_sim(TEXT)
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        await dev.send("VOLT 12")
        assert await dev.receive(timeout=5) == "OK 12"
        await dev.send("VOLT 31")
        assert (await dev.receive(timeout=5)).startswith("ERR 422 ")
        await dev.send("READ?")
        assert await dev.receive(timeout=5) == "VOLT 12"


async def test_python_websockets_client(start_sim, sim_pki):
    from websockets.asyncio.client import connect

    _, server, _ = await start_sim()
    ctx = ssl.create_default_context(cafile=str(sim_pki.root))
    ctx.load_cert_chain(sim_pki.carol.chain, sim_pki.carol.key, password=b"secret")

    async def client():
        async with connect(server.url, ssl=ctx, subprotocols=["belt.v1"]) as ws:
            await ws.send('{"jsonrpc":"2.0","id":"x","method":"belt.start"}')
            first = json.loads(await ws.recv())
            await ws.send('{"jsonrpc":"2.0","id":"y","method":"belt.set_speed","params":{"speed":5}}')
            second = json.loads(await ws.recv())
            return ws.subprotocol, first, second

    subprotocol, first, second = await trio.to_thread.run_sync(asyncio.run, client())
    assert subprotocol == "belt.v1"
    assert first == {
        "jsonrpc": "2.0",
        "id": "x",
        "result": {"state": "running", "speed": 1000, "at": first["result"]["at"]},
    }
    assert second["id"] == "y" and second["error"]["code"] == -32001  # carol is an operator, not an engineer


async def test_a_lone_surrogate_escape_is_a_parse_error_and_the_connection_and_audit_go_on(
    start_sim, sim_pki, tmp_path
):
    """`"id":"\\ud800"` is valid JSON that UTF-8 cannot carry: it crashed the
    handler (1011) and lost the audit line when the answer or the line was encoded."""
    sim, server, records = await start_sim()
    async with open_device(server.url, **sim_pki.kw(sim_pki.bob)) as dev:
        await dev.send('{"jsonrpc":"2.0","id":"\\ud800","method":"belt.start","params":{}}')
        error = json.loads(await dev.receive(timeout=5))
        assert error["error"]["code"] == -32700 and "unpaired surrogate" in error["error"]["message"]
        denied = await rpc(dev, "belt.start")  # the same connection goes on
        assert denied["error"]["code"] == -32001
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [line["result"] for line in lines][-1] == "denied"
