"""A hub restart: every device dials again at once.  All are admitted, the
registry ends consistent (each online exactly once, the old sessions closed),
and an operator's command gets through during the storm.

300 devices here (each with its own certificate from the store, which takes
~20 ms to issue); bench/bench_hub.py runs the 10,000-device version in
separate processes."""

from __future__ import annotations

import random
import time

import pytest
import trio
from hub_helpers import client_tls, running_hub

from wsctl.core.errors import WsctlError
from wsctl.net.api import open_device

N = 300


@pytest.fixture(scope="module")
def storm_devices(hub_pki):
    names = [f"S-{i:03d}" for i in range(N)]
    for name in names:
        if not (hub_pki.store.path / "devices" / name).exists():
            hub_pki.store.issue_device(
                name, dns=[f"{name.lower()}.test"], ips=[], days=30, password=b"pw", key_password=None
            )
    return {name: hub_pki.store.leaf_paths("device", name) for name in names}


async def device_loop(port_box, name, leaf, pki, stop):
    """Stay connected; after a drop dial again with a little jitter, as chargers do."""
    rng = random.Random(name)
    while not stop.is_set():
        try:
            url = f"wss://localhost:{port_box[0]}/ocpp/{name}"
            async with open_device(url, subprotocols=["ocpp1.6"], **client_tls(pki, leaf)) as dev:
                async for _ in dev:
                    pass
        except WsctlError:
            pass
        await trio.sleep(rng.uniform(0.05, 0.3))


async def test_every_device_is_back_after_a_hub_restart(hub_pki, registry, storm_devices):
    for name in storm_devices:
        registry.add_device(name, profile="ocpp16")
    port_box = [0]
    stop = trio.Event()
    limits = {"max_handshakes_per_source": N, "max_handshakes": N, "handshake_timeout": 30}
    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as first_run:
            async with running_hub(first_run, hub_pki, registry, serve_kwargs=limits) as hub:
                port_box[0] = hub.server.port
                for name, leaf in storm_devices.items():
                    nursery.start_soon(device_loop, port_box, name, leaf, hub_pki, stop)
                with trio.fail_after(300):
                    while len(hub.links) < N:
                        await trio.sleep(0.05)
                first_run.cancel_scope.cancel()
        # the hub is gone: every device is reconnecting
        port = port_box[0]
        restarted = time.time()
        async with running_hub(nursery, hub_pki, registry, serve_kwargs={**limits, "port": port}) as hub:
            with trio.fail_after(60):
                while "S-000" not in hub.links:
                    await trio.sleep(0.01)
            # an operator gets through while the others are still dialing
            async with open_device(
                f"wss://localhost:{port}/devices/S-000", profile="ocpp16", **client_tls(hub_pki, hub_pki.alice)
            ) as op:
                assert op.subprotocol == "ocpp1.6"
            with trio.fail_after(300):
                while len(hub.links) < N:
                    await trio.sleep(0.05)
            # consistent: the registry's online devices are exactly the hub's
            # links, each online since this run (nothing left from the first)
            online = [d for d in registry.devices() if d.online]
            assert len(online) == N
            assert {d.id for d in online} == set(hub.links) == set(storm_devices)
            assert all(d.since >= restarted and d.last_seen >= d.since for d in online)
            assert all(d.offline_reason is None and d.remote for d in online)
            stop.set()
            nursery.cancel_scope.cancel()
