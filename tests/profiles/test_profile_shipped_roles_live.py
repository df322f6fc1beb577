"""Observers read status on the shipped profiles, end to end (issue 9, item 19):
the shipped profile's simulator over real wss with mutual TLS, an observer's
certificate from the project's PKI, and the same client calls a dashboard makes."""

from __future__ import annotations

import functools

import pytest
import trio

from wsctl.core.errors import NotAuthorized
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device, serve
from wsctl.net.simulate import Simulator
from wsctl.pki.store import Store

PW = b"profile-roles-pass"


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("roles") / "certs")
    store.init(name="Roles Test CA", key_type="p256", password=PW)
    store.issue_device("dev", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    store.issue_operator("obs", role="observer", days=30, password=PW, key_password=None)
    return store


# (profile, a command that only reads, a command that changes the device)
CASES = [("conveyor", "status", "start"), ("psu", "measure_voltage", "set_voltage")]


@pytest.mark.parametrize(("name", "reads", "changes"), CASES)
async def test_an_observer_reads_status_and_is_refused_a_change(name, reads, changes, plant, sandbox, nursery):
    profile = load_profile(name, cwd=sandbox[0], environ=sandbox[1])
    sim = Simulator(profile, seed=1)
    await nursery.start(sim.run)
    device = plant.leaf_paths("device", "dev")
    server = await nursery.start(
        functools.partial(
            serve,
            sim.handler,
            cert_chain=device.chain,
            key=device.key,
            ca=plant.root_cert_path,
            subprotocols=profile.subprotocols,
        )
    )
    observer = plant.leaf_paths("operator", "obs")
    with trio.fail_after(20):
        async with open_device(
            server.url,
            profile=profile,
            ca=plant.root_cert_path,
            cert=observer.chain,
            key=observer.key,
            connect_timeout=5,
        ) as dev:
            assert await dev.call(reads) is not None
            params = {"value": 1.0} if changes == "set_voltage" else {}
            with pytest.raises(NotAuthorized) as refused:
                await dev.call(changes, **params)
    assert refused.value.exit_code == 9 and "observer" in str(refused.value)
