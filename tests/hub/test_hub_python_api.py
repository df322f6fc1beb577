"""The hub from Python: `wsctl.serve_hub`, and `wsctl.open_device` on a device
behind it — the documented names only."""

from __future__ import annotations

import trio
from hub_helpers import client_tls

import wsctl


async def test_serve_hub_and_open_device_behind_it(hub_pki, tmp_path):
    reg = wsctl.Registry.open(tmp_path / "hub.db")
    reg.add_device("CP-1", profile="ocpp16")
    reg.close()
    async with trio.open_nursery() as nursery:
        hub = await nursery.start(
            lambda task_status: wsctl.serve_hub(
                tmp_path / "hub.db",
                cert_chain=hub_pki.hub.chain,
                key=hub_pki.hub.key,
                ca=hub_pki.root,
                crl=hub_pki.crl,
                task_status=task_status,
            )
        )
        sim = wsctl.Simulator(wsctl.load_profile("ocpp16-charger"), seed=1)
        await nursery.start(sim.run)
        base = f"wss://localhost:{hub.server.port}"
        charger = client_tls(hub_pki, hub_pki.chargers["CP-1"])
        nursery.start_soon(lambda: sim.dial(f"{base}/ocpp/CP-1", role="engineer", redial=None, **charger))
        with trio.fail_after(10):
            while "CP-1" not in hub.links:
                await trio.sleep(0.01)
        async with wsctl.open_device(
            f"{base}/devices/CP-1", profile="ocpp16", **client_tls(hub_pki, hub_pki.olga)
        ) as dev:
            started = await dev.call("remote_start", id_tag="TAG-1", connector_id=1)
        assert started == {"status": "Accepted"}
        assert hub.registry.device("CP-1").online
        nursery.cancel_scope.cancel()
