"""The shipped `ocpp16-hub` and `ocpp201-hub` scenario packs through a hub,
against wsctl's simulated charger (1.6) and charging station (2.0.1) dialed
in: every case passes, the JUnit report says so."""

from __future__ import annotations

import trio
from cli_runner import run_subprocess
from hub_helpers import running_hub
from junit_xsd import validate
from junitparser import JUnitXml
from test_hub_devices_dial_in import dial_charger, wait_online


async def _run_pack(hub_pki, registry, tmp_path, pack: str, device: str, profile: str, station: str) -> list:
    registry.add_device(device, profile=profile)
    registry.add_id_tag("04A2B3C4")
    report = tmp_path / f"{device}.xml"
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, device, profile=station, scale=0.02)
            await wait_online(hub, device)
            url = f"wss://localhost:{hub.server.port}/devices/{device}"
            done = await trio.to_thread.run_sync(
                lambda: run_subprocess(
                    "test",
                    pack,
                    "--to",
                    url,
                    "--certs",
                    str(hub_pki.store.path),
                    "--operator",
                    "alice",
                    "--yes",
                    "--junit",
                    str(report),
                    timeout=120,
                )  # fmt: skip
            )
            nursery.cancel_scope.cancel()
    assert done.returncode == 0, (done.stdout, done.stderr)
    validate(report)
    suites = JUnitXml.fromfile(str(report))
    cases = [case for suite in suites for case in suite]
    assert all(case.is_passed for case in cases), [(c.name, c.result) for c in cases]
    return [case.name for case in cases]


async def test_ocpp16_hub_pack_passes_through_the_hub(hub_pki, registry, tmp_path):
    names = await _run_pack(hub_pki, registry, tmp_path, "ocpp16-hub", "CP-1", "ocpp16", "ocpp16-charger")
    assert len(names) == 5


async def test_ocpp201_hub_pack_passes_through_the_hub(hub_pki, registry, tmp_path):
    names = await _run_pack(hub_pki, registry, tmp_path, "ocpp201-hub", "CP-3", "ocpp201", "ocpp201-charger")
    assert names == [
        "boot on request",
        "heartbeat",
        "remote start, meter values, remote stop",
        "reset",
        "unknown action is NotImplemented",
    ]
