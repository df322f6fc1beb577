"""The record-and-replay half of `wsctl demo`: record a session with a
simulated conveyor, look at it, replay it against a fresh simulator (answers
must match), and serve it back as a mock device (replayed against, and asked
anew).

The recorded session is a commissioning run on a separate, quiet simulator
(telemetry off) rather than the demo's first session: that one interleaves
telemetry every 50 ms with the replies and contains deliberate refusals, so a
replay of it would compare when periodic messages happened to arrive rather
than what the device answered — a regression run is recorded the quiet way."""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from wsctl.cli.demo import DemoFailed, Steps

# telemetry once in ~11 days: effectively off for a demo that takes seconds
QUIET = 1e6
SESSION = [("status", {}), ("start", {}), ("set_speed", {"speed": 800}), ("status", {})]


@asynccontextmanager
async def conveyor(store, password: bytes, profile, handler=None):
    """A fresh simulated conveyor (or any handler) on a free port, mutual TLS."""
    import trio

    from wsctl.net.server import serve
    from wsctl.net.simulate import Simulator

    device = store.leaf_paths("device", "conveyor-1")
    simulator = Simulator(profile, seed=2, interval_scale=QUIET)
    async with trio.open_nursery() as nursery:
        if handler is None:
            await nursery.start(simulator.run)
        server = await nursery.start(
            functools.partial(
                serve,
                handler or simulator.handler,
                host="127.0.0.1",
                port=0,
                cert_chain=str(device.chain),
                key=str(device.key),
                password=password,
                ca=str(store.root_cert_path),
                crl=str(store.crl_pem_path),
                client_auth="required",
                subprotocols=profile.subprotocols,
            )
        )
        try:
            yield server.url
        finally:
            server.close()
            nursery.cancel_scope.cancel()


async def run_session(device, profile) -> list[Any]:
    """The commissioning commands over `device` (recorded or not); their replies."""
    import trio

    from wsctl.net.session import Session, raise_for_reply

    session = Session(device, profile)
    replies = []
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        for command, params in SESSION:
            reply = await session.call(command, params)
            raise_for_reply(reply, profile, "conveyor-1")
            replies.append(reply.payload)
        nursery.cancel_scope.cancel()
    return replies


async def replay_steps(steps: Steps, store, password: bytes, workdir: Path, operator) -> None:
    from wsctl.core.record.compare import Ignore
    from wsctl.core.record.replay import build_plan
    from wsctl.core.record.stats import summarize
    from wsctl.files.profiles import load_profile
    from wsctl.files.recording_reader import open_recording
    from wsctl.net.api import open_device
    from wsctl.net.mockserver import replay_handler
    from wsctl.net.recorder import Recorder
    from wsctl.net.replayer import replay

    profile = load_profile("conveyor")
    path = workdir / "session.jsonl"
    recorded: list[Any] = []

    async def record() -> str:
        async with conveyor(store, password, profile) as url:
            kwargs = operator("alice")
            with Recorder.for_client(path, url, kwargs, profile=profile.id) as recorder:
                async with recorder.open(url, subprotocols=profile.subprotocols, **kwargs) as dev:
                    recorded.extend(await run_session(dev, profile))
        return f"{len(SESSION)} commands by alice recorded losslessly with timing to {path.name} ({path.stat().st_size} bytes)"

    def show() -> str:
        reader = open_recording(path)
        stats = summarize(reader)
        if stats["messages"] != {"out": len(SESSION), "in": len(SESSION)}:
            raise DemoFailed(f"expected {len(SESSION)} messages each way, the recording has {stats['messages']}")
        header = reader.header
        return (
            f"header: url {header.url}, subprotocol {header.subprotocol}, profile {header.profile}; "
            f"{stats['messages']['out']} sent, {stats['messages']['in']} received over {stats['duration']:.3f} s, "
            f"close codes {stats['close_codes']}"
        )

    async def regression() -> str:
        plan = build_plan(open_recording(path), mode="reply")
        async with conveyor(store, password, profile) as url:
            async with open_device(url, subprotocols=profile.subprotocols, **operator("alice")) as dev:
                result = await replay(dev, plan, ignore=Ignore(["/id"]), reply_timeout=5)
        if not result.complete or result.report is None:
            raise DemoFailed(f"sent {len(result.sent)} of {len(plan.sends)}")
        if not result.report.ok:
            raise DemoFailed(f"answers differ: {result.report.summary()}")
        return (
            f"{len(result.sent)} recorded requests replayed (reply mode) against a freshly started simulator: "
            f"all {result.report.received} answers match the recording (ignoring /id)"
        )

    async def mock() -> str:
        handler = replay_handler(path, profile=profile, ignore=["/id"])
        plan = build_plan(open_recording(path), mode="reply")
        async with conveyor(store, password, profile, handler=handler) as url:
            async with open_device(url, subprotocols=profile.subprotocols, **operator("alice")) as dev:
                result = await replay(dev, plan, ignore=Ignore(["/id"]), reply_timeout=5)
            async with open_device(url, subprotocols=profile.subprotocols, **operator("alice")) as dev:
                answers = await run_session(dev, profile)
        if not result.complete or result.report is None or not result.report.ok:
            raise DemoFailed(f"replay against the mock: {result.report.summary() if result.report else 'incomplete'}")
        if answers != recorded:
            raise DemoFailed(f"the mock answered {answers}, the device had answered {recorded}")
        return (
            f"a mock device served from {path.name}: the recording replayed against it matches, and the same "
            f"{len(answers)} commands typed anew get the conveyor's answers (last status: {answers[-1].get('state')} "
            f"at {answers[-1].get('speed')} mm/s)"
        )

    if await steps.arun("record a session", record) is None:
        return
    steps.run("show the recording", show)
    await steps.arun("replay the recording against the simulator and compare the answers", regression)
    await steps.arun("serve the recording as a mock device", mock)
