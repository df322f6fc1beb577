"""`wsctl demo`, the hub part: a simulated charger dials a hub with its device
certificate; the operator resets it through the hub and reads its
configuration; an observer is refused (and audited); the charger renews its
certificate through the hub (OCPP SignCertificate / CertificateSigned, the old
one revoked); a charger whose certificate names another station is refused at
the door."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsctl.cli.demo import DemoFailed, Steps, expect_refusal


def _provision(store: Any, password: bytes, workdir: Path) -> str:
    from wsctl.registry import Registry

    store.issue_device("hub", dns=["localhost"], ips=["127.0.0.1"], password=password, key_password=password)
    for name in ("CP-1", "CP-2"):
        store.issue_device(name, dns=[f"{name.lower()}.chargers.plant"], password=password, key_password=password)
    store.issue_operator("sam", role="security-admin", password=password, key_password=password)
    with Registry.open(workdir / "hub.db") as reg:
        reg.add_device("CP-1", profile="ocpp16")
        reg.add_device("CP-2", profile="ocpp16")
    return (
        "hub certificate, chargers CP-1 and CP-2 (device certificates: clientAuth), security admin sam, registry hub.db"
    )


class _HubDemo:
    def __init__(self, store: Any, password: bytes, hub: Any, sim: Any, operator: Any, nursery: Any) -> None:
        self.store, self.password, self.hub, self.sim, self.operator = store, password, hub, sim, operator
        self.nursery = nursery
        self.base = f"wss://localhost:{hub.server.port}"

    def charger(self, name: str) -> dict[str, Any]:
        leaf = self.store.leaf_paths("device", name)
        return {
            "ca": str(self.store.root_cert_path),
            "cert": str(leaf.chain),
            "key": str(leaf.key),
            "password": self.password,
            "connect_timeout": 5,
        }

    async def dial_in(self) -> str:
        import trio

        url = f"{self.base}/ocpp/CP-1"
        self.nursery.start_soon(lambda: self.sim.dial(url, role="supervisor", redial=None, **self.charger("CP-1")))
        with trio.fail_after(10):
            while "CP-1" not in self.hub.links:
                await trio.sleep(0.01)
            await self.hub.links["CP-1"].booted.wait()
        rec = self.hub.registry.device("CP-1")
        return f"CP-1 dialed {url} with mutual TLS; booted as {rec.vendor} {rec.model} {rec.firmware}"

    async def command(self) -> str:
        from wsctl.net.api import open_device

        async with open_device(f"{self.base}/devices/CP-1", profile="ocpp16", **self.operator("alice")) as dev:
            reset = await dev.call("reset", type="Soft")
            config = await dev.call("get_configuration", key=["HeartbeatInterval"])
        keys = {k["key"]: k.get("value") for k in config.get("configurationKey", [])}
        return f"alice through the hub: Reset -> {reset['status']}; HeartbeatInterval = {keys.get('HeartbeatInterval')}"

    async def observer(self) -> str:
        from wsctl.core.errors import NotAuthorized, WsctlError
        from wsctl.net.api import open_device

        what = "observer bob's Reset through the hub"
        try:
            async with open_device(f"{self.base}/devices/CP-1", profile="ocpp16", **self.operator("bob")) as dev:
                await dev.call("reset", type="Soft")
        except WsctlError as exc:
            shown = expect_refusal(what, NotAuthorized, exc)
            audited = [a for a in self.hub.registry.audit_log(device="CP-1", actor="bob") if a["outcome"] == "refused"]
            if not audited:
                raise DemoFailed("bob's refused Reset is not in the hub's audit log") from None
            return f"{shown}; audit: {audited[0]['actor']} {audited[0]['action']} {audited[0]['outcome']}"
        return expect_refusal(what, NotAuthorized, None)

    async def renewal(self) -> str:
        import trio
        from cryptography import x509

        from wsctl.net.api import open_device

        old = self.store.load_index().current("CP-1")
        before = self.hub.links["CP-1"]
        async with open_device(f"{self.base}/devices/CP-1", profile="ocpp16", **self.operator("sam")) as dev:
            await dev.call("renew_certificate")
        reg = self.hub.registry
        with trio.fail_after(15):
            while not (done := [a for a in reg.audit_log(device="CP-1") if a["action"] == "certificate-renewed"]):
                await trio.sleep(0.02)
        if done[0]["outcome"] != "ok" or self.hub.links.get("CP-1") is before:
            raise DemoFailed(f"the renewal did not complete: {done[0]['outcome']} {done[0]['detail']}")
        new = self.store.load_index().current("CP-1")
        crl = x509.load_pem_x509_crl(self.store.crl_pem_path.read_bytes())
        if (
            crl.get_revoked_certificate_by_serial_number(old.serial) is None
            or reg.device("CP-1").cert_fingerprint != new.fingerprint
        ):
            raise DemoFailed(
                "after the renewal the old certificate is not in the CRL, or the registry does not show the new one"
            )
        return (
            f"sam: ExtendedTriggerMessage -> CP-1 made a new P-256 key and sent its CSR -> the hub signed it "
            f"(serial {new.serial:x}) -> CertificateSigned Accepted -> CP-1 reconnected with it; "
            f"old serial {old.serial:x} revoked, in the CRL"
        )

    async def impostor(self) -> str:
        from wsctl.core.errors import HandshakeRejected, WsctlError

        what = "CP-2's certificate at CP-1's address"
        try:
            await self.sim.dial(f"{self.base}/ocpp/CP-1", role="supervisor", redial=None, **self.charger("CP-2"))
        except WsctlError as exc:
            return expect_refusal(what, HandshakeRejected, exc)
        return expect_refusal(what, HandshakeRejected, None)


async def hub_steps(steps: Steps, store: Any, password: bytes, workdir: Path, operator: Any) -> None:
    import trio

    from wsctl.files.profiles import load_profile
    from wsctl.net.hub.api import serve_hub
    from wsctl.net.hub.cert_manager import CertificateSigner
    from wsctl.net.simulate import Simulator

    if steps.run("provision a hub and two chargers that dial it", lambda: _provision(store, password, workdir)) is None:
        return
    hub_leaf = store.leaf_paths("device", "hub")
    async with trio.open_nursery() as nursery:
        hub = await nursery.start(
            lambda task_status: serve_hub(
                workdir / "hub.db",
                cert_chain=hub_leaf.chain,
                key=hub_leaf.key,
                password=password,
                ca=store.root_cert_path,
                crl=store.crl_pem_path,
                signer=CertificateSigner(store, password),
                task_status=task_status,
            )
        )
        sim = Simulator(load_profile("ocpp16-charger"), seed=1)
        await nursery.start(sim.run)
        demo = _HubDemo(store, password, hub, sim, operator, nursery)
        if await steps.arun("a simulated charger dials the hub and boots", demo.dial_in) is not None:
            await steps.arun("the operator resets it through the hub and reads its configuration", demo.command)
            await steps.arun("an observer's Reset is refused by the hub (role), and audited", demo.observer)
            await steps.arun("a charger renews its certificate through the hub", demo.renewal)
        await steps.arun("a charger whose certificate names another station is refused (403)", demo.impostor)
        nursery.cancel_scope.cancel()
