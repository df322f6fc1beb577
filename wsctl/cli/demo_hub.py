"""`wsctl demo`, the hub part: a simulated charger dials a hub with its device
certificate; the operator resets it through the hub and reads its status; an
observer is refused; a charger whose certificate names another station is
refused at the door."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsctl.cli.demo import DemoFailed, Steps, expect_refusal


async def hub_steps(steps: Steps, store: Any, password: bytes, workdir: Path, operator: Any) -> None:
    import trio

    from wsctl.core.errors import HandshakeRejected, NotAuthorized, WsctlError
    from wsctl.core.profile.discovery import load_profile
    from wsctl.net.api import open_device
    from wsctl.net.hub.api import serve_hub
    from wsctl.net.simulate import Simulator
    from wsctl.registry import Registry

    def provision() -> str:
        store.issue_device("hub", dns=["localhost"], ips=["127.0.0.1"], password=password, key_password=password)
        for name in ("CP-1", "CP-2"):
            store.issue_device(name, dns=[f"{name.lower()}.chargers.plant"], password=password, key_password=password)
        with Registry.open(workdir / "hub.db") as reg:
            reg.add_device("CP-1", profile="ocpp16")
            reg.add_device("CP-2", profile="ocpp16")
        return "hub certificate, chargers CP-1 and CP-2 (device certificates: clientAuth), registry hub.db"

    if steps.run("provision a hub and two chargers that dial it", provision) is None:
        return
    hub_leaf = store.leaf_paths("device", "hub")

    def charger(name: str) -> dict[str, Any]:
        leaf = store.leaf_paths("device", name)
        return {
            "ca": str(store.root_cert_path),
            "cert": str(leaf.chain),
            "key": str(leaf.key),
            "password": password,
            "connect_timeout": 5,
        }

    async with trio.open_nursery() as nursery:
        hub = await nursery.start(
            lambda task_status: serve_hub(
                workdir / "hub.db",
                cert_chain=hub_leaf.chain,
                key=hub_leaf.key,
                password=password,
                ca=store.root_cert_path,
                crl=store.crl_pem_path,
                task_status=task_status,
            )
        )
        base = f"wss://localhost:{hub.server.port}"
        sim = Simulator(load_profile("ocpp16-charger"), seed=1)
        await nursery.start(sim.run)

        async def dial_in() -> str:
            nursery.start_soon(lambda: sim.dial(f"{base}/ocpp/CP-1", role="supervisor", redial=None, **charger("CP-1")))
            with trio.fail_after(10):
                while "CP-1" not in hub.links:
                    await trio.sleep(0.01)
                await hub.links["CP-1"].booted.wait()
            rec = hub.registry.device("CP-1")
            return f"CP-1 dialed {base}/ocpp/CP-1 with mutual TLS; booted as {rec.vendor} {rec.model} {rec.firmware}"

        async def command() -> str:
            async with open_device(f"{base}/devices/CP-1", profile="ocpp16", **operator("alice")) as dev:
                reset = await dev.call("reset", type="Soft")
                config = await dev.call("get_configuration", key=["HeartbeatInterval"])
            keys = {k["key"]: k.get("value") for k in config.get("configurationKey", [])}
            return f"alice through the hub: Reset -> {reset['status']}; HeartbeatInterval = {keys.get('HeartbeatInterval')}"

        async def observer() -> str:
            try:
                async with open_device(f"{base}/devices/CP-1", profile="ocpp16", **operator("bob")) as dev:
                    await dev.call("reset", type="Soft")
            except WsctlError as exc:
                shown = expect_refusal("observer bob's Reset through the hub", NotAuthorized, exc)
                audited = [a for a in hub.registry.audit_log(device="CP-1", actor="bob") if a["outcome"] == "refused"]
                if not audited:
                    raise DemoFailed("bob's refused Reset is not in the hub's audit log") from None
                return f"{shown}; audit: {audited[0]['actor']} {audited[0]['action']} {audited[0]['outcome']}"
            return expect_refusal("observer bob's Reset through the hub", NotAuthorized, None)

        async def impostor() -> str:
            try:
                await sim.dial(f"{base}/ocpp/CP-1", role="supervisor", redial=None, **charger("CP-2"))
            except WsctlError as exc:
                return expect_refusal("CP-2's certificate at CP-1's address", HandshakeRejected, exc)
            return expect_refusal("CP-2's certificate at CP-1's address", HandshakeRejected, None)

        if await steps.arun("a simulated charger dials the hub and boots", dial_in) is not None:
            await steps.arun("the operator resets it through the hub and reads its configuration", command)
            await steps.arun("an observer's Reset is refused by the hub (role), and audited", observer)
        await steps.arun("a charger whose certificate names another station is refused (403)", impostor)
        nursery.cancel_scope.cancel()
