"""The network half of `wsctl demo`: a simulated conveyor with mutual TLS and
the checks run against it.  Each step says what it proved; a refusal that did
not happen is a failure."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from wsctl.cli.demo import DemoFailed, Steps, expect_refusal
from wsctl.core.errors import WsctlError

# telemetry every 50 ms instead of every second: the demo must take seconds
TELEMETRY_SCALE = 0.05


def operator_credentials(store, password: bytes):
    """name -> the open_device keyword arguments of that operator's certificate."""

    def operator(name: str) -> dict:
        paths = store.leaf_paths("operator", name)
        return {
            "ca": str(store.root_cert_path),
            "cert": str(paths.chain),
            "key": str(paths.key),
            "password": password,
            "connect_timeout": 5,
        }

    return operator


class ConveyorChecks:
    """The checks against the simulated conveyor at ``url``; each returns what it proved."""

    def __init__(self, url: str, profile, operator, audit_path: Path) -> None:
        self.url, self.profile, self.operator, self.audit_path = url, profile, operator, audit_path

    def _open(self, name: str):
        from wsctl.net.api import open_device

        return open_device(self.url, profile=self.profile, **self.operator(name))

    async def commands(self) -> str:
        async with self._open("alice") as dev:
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

    async def out_of_range(self) -> str:
        from wsctl.core.errors import InvalidInput

        async with self._open("alice") as dev:
            try:
                await dev.call("set_speed", speed=5000)
            except InvalidInput as exc:
                return expect_refusal("set_speed speed=5000", InvalidInput, exc) + "; nothing was sent"
        return expect_refusal("set_speed speed=5000", InvalidInput, None)

    async def wrong_role(self) -> str:
        from wsctl.core.errors import NotAuthorized

        async with self._open("bob") as dev:
            try:
                await dev.call("stop")
            except WsctlError as exc:
                detail = expect_refusal("stop by an observer", NotAuthorized, exc)
            else:
                detail = expect_refusal("stop by an observer", NotAuthorized, None)
        lines = self.audit_path.read_text().splitlines()
        denials = [json.loads(line) for line in lines if '"denied"' in line]
        if not denials:
            raise DemoFailed("the denial is missing from the audit log")
        last = denials[-1]
        return (
            f"{detail}; audit log {self.audit_path.name}: {last.get('result')} {last.get('command')}"
            f" for role {last.get('role')}"
        )

    async def telemetry(self) -> str:
        import trio

        from wsctl.core.profile.events import Telemetry

        got = []
        async with self._open("bob") as dev:
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

    async def refused(self, title: str, kwargs: dict) -> str:
        from wsctl.core.errors import TLSError
        from wsctl.net.api import open_device

        try:
            async with open_device(self.url, **kwargs) as dev:
                await dev.send("x")
                await dev.receive(timeout=5)
        except WsctlError as exc:
            return expect_refusal(title, TLSError, exc)
        return expect_refusal(title, TLSError, None)

    async def run(self, steps: Steps, ca: str) -> None:
        operator = self.operator
        await steps.arun(
            f"start the simulated conveyor with mutual TLS at {self.url}; alice runs commands", self.commands
        )
        await steps.arun("a command out of its range is refused before anything is sent", self.out_of_range)
        await steps.arun("a command refused for the operator's role (observer bob), and audited", self.wrong_role)
        await steps.arun("watch telemetry", self.telemetry)
        await steps.arun(
            "a client without a certificate is refused",
            lambda: self.refused("no client certificate", {"ca": ca, "connect_timeout": 5}),
        )
        await steps.arun(
            "the revoked operator is refused (CRL)", lambda: self.refused("revoked mallory", operator("mallory"))
        )
        await steps.arun(
            "a device reached by a name not in its certificate is refused",
            lambda: self.refused("wrong name", {**operator("alice"), "tls_server_name": "conveyor-2.plant"}),
        )


async def network_steps(steps: Steps, store, password: bytes, workdir: Path) -> None:
    import trio

    from wsctl.files.profiles import load_profile
    from wsctl.net.server import serve
    from wsctl.net.simulate import AuditLog, Simulator

    profile = load_profile("conveyor")
    device = store.leaf_paths("device", "conveyor-1")
    audit_path = workdir / "audit.jsonl"
    audit = AuditLog(audit_path)
    simulator = Simulator(profile, seed=1, interval_scale=TELEMETRY_SCALE, audit=audit)
    operator = operator_credentials(store, password)
    ca = str(store.root_cert_path)
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
                    ca=ca,
                    crl=str(store.crl_pem_path),
                    client_auth="required",
                    subprotocols=profile.subprotocols,
                )
            )
            await ConveyorChecks(server.url, profile, operator, audit_path).run(steps, ca)
            server.close()
            nursery.cancel_scope.cancel()
    finally:
        audit.close()

    from wsctl.cli.demo.replay import replay_steps

    await replay_steps(steps, store, password, workdir, operator)

    from wsctl.cli.demo.hub import hub_steps

    await hub_steps(steps, store, password, workdir, operator)
