"""Pings and pongs go through the proxy both ways, payload intact, and are recorded.

The device here sees control frames itself (`ControlFrames` on its own
connection) and answers the tool's ping by hand, so a pong the tool gets can
only have come from the device, not from the proxy's trio-websocket."""

from __future__ import annotations

import functools

import trio

from wsctl.files.recording_reader import open_recording
from wsctl.net._pings import ControlFrames
from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy
from wsctl.net.recorder import Recorder
from wsctl.net.server import serve


async def test_pings_are_relayed_both_ways_and_recorded(plant, tmp_path):
    path = tmp_path / "pings.jsonl"
    at_device: list = []
    device_pinged = trio.Event()

    async def device(conn):
        frames = ControlFrames(conn._ws)

        async def answer():
            async for kind, payload in frames:
                at_device.append((kind, payload))
                if kind == "ping":
                    await frames.send("pong", b"device:" + payload)
                    await frames.send("pong", payload)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            await conn.receive()  # the tool says when to ping it
            await conn.ping(timeout=5)  # waits for the tool's pong, relayed
            device_pinged.set()
            await conn.receive()
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        rec = Recorder(path, source="proxy")
        relay = RecordingProxy(f"wss://localhost:{upstream.port}/", plant.client_kwargs(), rec)
        server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            await dev.ping(timeout=5)  # returns on the device's pong, the unsolicited one passed on first
            await dev.send("now")
            with trio.fail_after(5):
                await device_pinged.wait()
            await dev.send("bye")
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    rec.close()
    controls = [(e.kind, e.dir, e.data) for e in open_recording(path) if e.kind in ("ping", "pong")]
    (tool_ping, device_ping) = [c for c in controls if c[0] == "ping"]
    assert tool_ping[1] == "out" and device_ping[1] == "in"
    assert controls == [
        ("ping", "out", tool_ping[2]),
        ("pong", "in", b"device:" + tool_ping[2]),
        ("pong", "in", tool_ping[2]),
        ("ping", "in", device_ping[2]),
        ("pong", "out", device_ping[2]),
    ]
    assert at_device == [("ping", tool_ping[2])]  # the device saw the tool's ping itself


async def test_the_proxys_own_keepalive_stays_its_own(plant, tmp_path):
    """With --ping-interval upstream, the device's pongs answer the proxy: they
    must reach its keepalive (or it would call the link dead) and not the tool."""
    path = tmp_path / "keepalive.jsonl"
    device_pings: list = []
    at_tool: list = []

    async def device(conn):
        frames = ControlFrames(conn._ws)

        async def answer():
            async for _kind, payload in frames:
                device_pings.append(payload)
                await frames.send("pong", payload)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            async for message in conn:
                await conn.send(message)
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        rec = Recorder(path, source="proxy")
        kwargs = {**plant.client_kwargs(), "ping_interval": 0.02, "ping_timeout": 5}
        relay = RecordingProxy(f"wss://localhost:{upstream.port}/", kwargs, rec)
        server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            tool_frames = ControlFrames(dev._ws)
            nursery.start_soon(lambda: _collect(tool_frames, at_tool))
            with trio.fail_after(5):
                while len(device_pings) < 3:
                    await trio.sleep(0.01)
            await dev.send("still alive")  # the keepalive got its pongs: the link was not cut
            assert await dev.receive(timeout=5) == "still alive"
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    rec.close()
    assert at_tool == []
    assert [e.kind for e in open_recording(path) if e.kind in ("ping", "pong")] == []


async def _collect(frames, into):
    async for item in frames:
        into.append(item)
