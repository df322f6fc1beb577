"""When the hub writes what it knows of a device's presence: going online and
offline at once; the time it last sent something gathered in memory and
written every `seen_flush_period` (a heartbeat used to cost a write), the
latest one together with the device's offline write; and a device's standing,
kept in memory, still follows another process's changes.  Kill -9 of a hub
process: tests/hub/test_hub_cli.py."""

from __future__ import annotations

import json
import time

import pytest
import trio
from cli_runner import run_subprocess
from hub_helpers import Process, client_tls, hub_url, running_hub

from wsctl.core.errors import HandshakeRejected
from wsctl.net.api import open_device
from wsctl.net.hub.hub import SEEN_FLUSH_PERIOD
from wsctl.registry import Registry


class Clock:
    """The hub's wall clock, set by the test (the registry's times come from it)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def charger(hub, pki, name="CP-1"):
    return open_device(hub_url(hub, f"/ocpp/{name}"), subprotocols=["ocpp1.6"], **client_tls(pki, pki.chargers[name]))


async def heartbeat(dev, n: int) -> None:
    await dev.send(json.dumps([2, f"hb{n}", "Heartbeat", {}]))
    with trio.fail_after(10):
        reply = json.loads(await dev.receive())
    assert reply[:2] == [3, f"hb{n}"] and "currentTime" in reply[2], reply


async def wait_for(check, timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.01)


async def test_heartbeats_are_not_written_one_by_one_the_last_goes_with_the_offline_write(hub_pki, registry):
    registry.add_device("CP-1", profile="ocpp16")
    clock = Clock(1000.0)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, wall=clock, seen_flush_period=3600) as hub:
            async with charger(hub, hub_pki) as dev:
                await wait_for(lambda: "CP-1" in hub.links)
                assert registry.device("CP-1").last_seen == 1000.0  # going online is written at once
                for n, now in enumerate((2000.0, 2001.0, 2002.0)):
                    clock.now = now
                    await heartbeat(dev, n)
                assert registry.device("CP-1").last_seen == 1000.0  # ... heartbeats are not
                clock.now = 3000.0
            await wait_for(lambda: "CP-1" not in hub.links)
            record = registry.device("CP-1")
            assert (record.online, record.since, record.last_seen) == (False, 3000.0, 2002.0)
            assert record.offline_reason.startswith("closed")
            nursery.cancel_scope.cancel()


async def test_last_seen_times_are_written_every_flush_period_while_the_device_stays(hub_pki, registry):
    registry.add_device("CP-1", profile="ocpp16")
    registry.add_device("CP-2", profile="ocpp16")
    clock = Clock(1000.0)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, wall=clock, seen_flush_period=0.05) as hub:
            async with charger(hub, hub_pki, "CP-1") as one, charger(hub, hub_pki, "CP-2") as two:
                await wait_for(lambda: {"CP-1", "CP-2"} <= hub.links.keys())
                clock.now = 2000.0
                await heartbeat(one, 1)
                clock.now = 2500.0
                await heartbeat(two, 1)
                await wait_for(
                    lambda: (registry.device("CP-1").last_seen, registry.device("CP-2").last_seen) == (2000.0, 2500.0)
                )
                assert registry.device("CP-1").online and registry.device("CP-2").online
            nursery.cancel_scope.cancel()


async def test_a_device_blocked_by_another_process_is_refused_at_its_next_connection(hub_pki, registry):
    """The hub keeps standings in memory; `wsctl hub devices block` writes from
    another process (here: another connection to the same file)."""
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger(hub, hub_pki) as dev:
                await wait_for(lambda: "CP-1" in hub.links)
                await heartbeat(dev, 1)
            await wait_for(lambda: "CP-1" not in hub.links)
            with Registry.open(registry.path, create=False) as other:
                other.set_status("CP-1", "blocked")
            with pytest.raises(HandshakeRejected, match="403"):
                async with charger(hub, hub_pki):
                    pass
            with Registry.open(registry.path, create=False) as other:
                other.set_status("CP-1", "approved")
            async with charger(hub, hub_pki) as dev:
                await heartbeat(dev, 2)
            nursery.cancel_scope.cancel()


async def test_after_kill_9_the_registry_has_every_last_seen_time_but_the_last_flush_periods(hub_pki, tmp_path):
    """A hub process killed with SIGKILL: what was flushed stays; the presence
    it could not write (the device still "online") is set right when the hub
    starts again.  A sighting reaches the file within one flush period while
    the hub runs (waited for here with a generous bound: the machine may be busy)."""
    registry = str(tmp_path / "hub.db")
    added = run_subprocess("hub", "devices", "add", "CP-1", "--profile", "ocpp16", "--registry", registry)
    assert added.returncode == 0, added.stderr
    args = ("--json", "hub", "--listen", "127.0.0.1:0", "--certs", str(hub_pki.store.path), "--device", "hub",
            "--registry", registry)  # fmt: skip
    hub = Process(*args)
    try:
        port = hub.first["url"].rsplit(":", 1)[1].split("/")[0]
        url = f"wss://localhost:{port}/ocpp/CP-1"
        with Registry.open(registry, create=False) as reg:
            async with open_device(
                url, subprotocols=["ocpp1.6"], **client_tls(hub_pki, hub_pki.chargers["CP-1"])
            ) as dev:
                await wait_for(lambda: reg.device("CP-1").online)
                connected = reg.device("CP-1").last_seen
                while time.time() <= connected:
                    await trio.sleep(0.01)
                sent = time.time()
                await heartbeat(dev, 1)
                await wait_for(lambda: reg.device("CP-1").last_seen >= sent, timeout=SEEN_FLUSH_PERIOD * 15)
                hub.proc.kill()
                hub.proc.wait(10)
                record = reg.device("CP-1")
                assert record.online and record.last_seen >= sent
            hub = Process(*args)
            record = reg.device("CP-1")
            assert (record.online, record.offline_reason) == (False, "hub restarted")
            assert record.last_seen >= sent
    finally:
        hub.stop()
