"""A simulated connection's outbox (`wsctl.net.sim_link.Link`): no task per
connection while nothing is to be sent, frames in the order they were made
(a reply after the telemetry offered before it), the bound on what a peer that
does not read is owed.  Real WebSockets (wsproto over trio's in-memory
streams) and a real simulator over wss."""

from __future__ import annotations

import functools
import json

import trio
import trio.testing
from sim_profiles import JSONRPC, load

from wsctl.core.profile.device_side import DeviceCodec
from wsctl.net.api import open_device, serve
from wsctl.net.channel import Channel
from wsctl.net.sim_link import QUEUE_SIZE, Link
from wsctl.net.simulate import Peer, Simulator
from wsctl.net.websocket import WebSocket


def channel_pair() -> tuple[Channel, Channel]:
    """Two ends of one open WebSocket (no upgrade)."""
    a, b = trio.testing.memory_stream_pair()
    server = WebSocket(a, is_server=True)
    client = WebSocket(b, is_server=False)
    return Channel(server, "server", 5.0), Channel(client, "client", 5.0)


async def test_a_reply_goes_out_after_the_telemetry_offered_before_it(nursery):
    device, peer = channel_pair()
    link = Link(device, DeviceCodec(load(JSONRPC)), Peer(remote="test", role=None), nursery)
    for n in range(3):
        link.offer(f"telemetry {n}")
    # the outbox's task has not run yet: sent inline, the reply would overtake it
    await link.send("reply")
    assert [await peer.receive(timeout=5) for _ in range(4)] == ["telemetry 0", "telemetry 1", "telemetry 2", "reply"]
    await trio.testing.wait_all_tasks_blocked()
    assert not nursery.child_tasks  # the sender is gone once the outbox is empty


async def test_a_peer_that_does_not_read_is_owed_at_most_the_bound(nursery):
    device, peer = channel_pair()
    link = Link(device, DeviceCodec(load(JSONRPC)), Peer(remote="test", role=None), nursery)
    for n in range(QUEUE_SIZE + 50):
        link.offer(str(n))
    await link.send("reply")
    got = [await peer.receive(timeout=5) for _ in range(QUEUE_SIZE + 1)]
    assert got == [str(n) for n in range(QUEUE_SIZE)] + ["reply"]


async def test_nothing_is_offered_once_the_conversation_ended(nursery):
    device, peer = channel_pair()
    link = Link(device, DeviceCodec(load(JSONRPC)), Peer(remote="test", role=None), nursery)
    link.ended = True
    link.offer("late telemetry")
    await trio.testing.wait_all_tasks_blocked()
    assert not nursery.child_tasks
    await link.send("reply")
    assert await peer.receive(timeout=5) == "reply"


def _task_names() -> list[str]:
    names, todo = [], [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        names.append(task.name)
        todo += [child for nursery in task.child_nurseries for child in nursery.child_tasks]
    return names


async def test_idle_connections_have_no_task_of_their_own_in_the_simulator(sim_pki, nursery):
    """Telemetry reaches every connection; between sends the simulator runs
    one task (its clock) whatever the number of connections."""
    sim = Simulator(load(JSONRPC), seed=1)
    await nursery.start(sim.run)
    server = await nursery.start(
        functools.partial(serve, sim.handler, cert_chain=sim_pki.device.chain, key=sim_pki.device.key, ca=sim_pki.root)
    )
    async with (
        open_device(server.url, **sim_pki.kw(sim_pki.alice)) as a,
        open_device(server.url, **sim_pki.kw(sim_pki.bob)) as b,
    ):
        for dev in (a, b):
            doc = json.loads(await dev.receive(timeout=5))
            assert "id" not in doc  # a notification: telemetry
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        simulator_tasks = [n for n in _task_names() if n.startswith("wsctl.net.sim")]
        assert simulator_tasks == ["wsctl.net.simulate.Simulator.run"], simulator_tasks


async def test_a_conversation_outliving_the_simulators_clock_still_answers(sim_pki, nursery):
    """`run` stopped (its nursery closed) while a connection stays: replies still
    go out, telemetry the stop step makes is dropped, nothing fails."""
    sim = Simulator(load(JSONRPC), seed=1)
    clock = trio.CancelScope()

    async def run_clock(task_status=trio.TASK_STATUS_IGNORED):
        with clock:
            await sim.run(task_status=task_status)

    await nursery.start(run_clock)
    server = await nursery.start(
        functools.partial(serve, sim.handler, cert_chain=sim_pki.device.chain, key=sim_pki.device.key, ca=sim_pki.root)
    )
    async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
        clock.cancel()
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        await dev.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "belt.stop"}))
        with trio.fail_after(5):
            while True:
                doc = json.loads(await dev.receive())
                if doc.get("id") == 7:
                    break
        assert doc["result"] == {"state": "stopped"}
        await dev.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "belt.status"}))
        with trio.fail_after(5):
            while (doc := json.loads(await dev.receive())).get("id") != 8:
                pass
        assert doc["result"]["state"] == "stopped"
