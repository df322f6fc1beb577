"""The network half of `wsctl demo`: a simulated conveyor with mutual TLS and
the checks run against it.  Each step says what it proved; a refusal that did
not happen is a failure."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from wsctl.cli.demo import DemoFailed, Steps, expect_refusal
from wsctl.core.errors import WsctlError

# telemetry every 50 ms instead of every second: the demo must take seconds
TELEMETRY_SCALE = 0.05


async def network_steps(steps: Steps, store, password: bytes, workdir: Path) -> None:
    import trio

    from wsctl.core.errors import InvalidInput, NotAuthorized, TLSError
    from wsctl.core.profile.discovery import load_profile
    from wsctl.core.profile.events import Telemetry
    from wsctl.net.api import open_device
    from wsctl.net.server import serve
    from wsctl.net.simulate import AuditLog, Simulator

    profile = load_profile("conveyor")
    device = store.leaf_paths("device", "conveyor-1")
    audit_path = workdir / "audit.jsonl"
    audit = AuditLog(audit_path)
    simulator = Simulator(profile, seed=1, interval_scale=TELEMETRY_SCALE, audit=audit)
    seen: list[Any] = []

    def operator(name: str) -> dict:
        paths = store.leaf_paths("operator", name)
        return {
            "ca": str(store.root_cert_path),
            "cert": str(paths.chain),
            "key": str(paths.key),
            "password": password,
            "connect_timeout": 5,
        }

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)
            server = await nursery.start(
                functools.partial(
                    serve,
                    simulator.handler,
                    host="127.0.0.1",
                    port=0,
                    cert_chain=str(device.chain),
                    key=str(device.key),
                    password=password,
                    ca=str(store.root_cert_path),
                    crl=str(store.crl_pem_path),
                    client_auth="required",
                    subprotocols=profile.subprotocols,
                    access_log=seen.append,
                )
            )
            url = server.url

            async def commands() -> str:
                async with open_device(url, profile=profile, **operator("alice")) as dev:
                    await dev.call("start")
                    speed = await dev.call("set_speed", speed=1200)
                    status = await dev.call("status")
                    tls = dev.tls_version
                if status.get("state") != "running":
                    raise DemoFailed(f"the belt did not start: {status}")
                return (
                    f"{tls}, subprotocol conveyor.v1; alice (engineer, from her certificate) ran start, "
                    f"set_speed speed=1200 -> {json.dumps(speed)}, status -> state {status['state']}"
                )

            async def out_of_range() -> str:
                async with open_device(url, profile=profile, **operator("alice")) as dev:
                    try:
                        await dev.call("set_speed", speed=5000)
                    except InvalidInput as exc:
                        return expect_refusal("set_speed speed=5000", InvalidInput, exc) + "; nothing was sent"
                return expect_refusal("set_speed speed=5000", InvalidInput, None)

            async def wrong_role() -> str:
                async with open_device(url, profile=profile, **operator("bob")) as dev:
                    try:
                        await dev.call("stop")
                    except WsctlError as exc:
                        detail = expect_refusal("stop by an observer", NotAuthorized, exc)
                    else:
                        detail = expect_refusal("stop by an observer", NotAuthorized, None)
                denials = [json.loads(line) for line in audit_path.read_text().splitlines() if '"denied"' in line]
                if not denials:
                    raise DemoFailed("the denial is missing from the audit log")
                return f"{detail}; audit log {audit_path.name}: {denials[-1].get('result')} {denials[-1].get('command')} for role {denials[-1].get('role')}"

            async def telemetry() -> str:
                got = []
                async with open_device(url, profile=profile, **operator("bob")) as dev:
                    with trio.fail_after(10):
                        async for event in dev.events():
                            if isinstance(event, Telemetry) and event.name == "conveyor.telemetry":
                                got.append(event.payload)
                                if len(got) == 5:
                                    break
                last = got[-1]
                return (
                    f"5 telemetry notifications decoded by the profile; last: speed {last['speed']} mm/s, "
                    f"motor {last['motor_temp']} °C, state {last['state']}"
                )

            async def refused(title: str, kwargs: dict, target: str = url) -> str:
                try:
                    async with open_device(target, **kwargs) as dev:
                        await dev.send("x")
                        await dev.receive(timeout=5)
                except WsctlError as exc:
                    return expect_refusal(title, TLSError, exc)
                return expect_refusal(title, TLSError, None)

            await steps.arun(f"start the simulated conveyor with mutual TLS at {url}; alice runs commands", commands)
            await steps.arun("a command out of its range is refused before anything is sent", out_of_range)
            await steps.arun("a command refused for the operator's role (observer bob), and audited", wrong_role)
            await steps.arun("watch telemetry", telemetry)
            await steps.arun(
                "a client without a certificate is refused",
                lambda: refused("no client certificate", {"ca": str(store.root_cert_path), "connect_timeout": 5}),
            )
            await steps.arun(
                "the revoked operator is refused (CRL)", lambda: refused("revoked mallory", operator("mallory"))
            )
            await steps.arun(
                "a device reached by a name not in its certificate is refused",
                lambda: refused("wrong name", {**operator("alice"), "tls_server_name": "conveyor-2.plant"}),
            )
            server.close()
            nursery.cancel_scope.cancel()
    finally:
        audit.close()

    from wsctl.cli.demo.replay import replay_steps

    await replay_steps(steps, store, password, workdir, operator)

    from wsctl.cli.demo.hub import hub_steps

    await hub_steps(steps, store, password, workdir, operator)
