"""The shipped `ocpp16-hub` scenario pack through a hub, against wsctl's
simulated charger dialed in: every case passes, the JUnit report says so."""

from __future__ import annotations

import trio
from cli_runner import run_subprocess
from hub_helpers import running_hub
from junitparser import JUnitXml
from test_hub_devices_dial_in import dial_charger, wait_online


async def test_ocpp16_hub_pack_passes_through_the_hub(hub_pki, registry, tmp_path):
    registry.add_device("CP-1", profile="ocpp16")
    registry.add_id_tag("04A2B3C4")
    report = tmp_path / "cp-1.xml"
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1", scale=0.02)
            await wait_online(hub, "CP-1")
            url = f"wss://localhost:{hub.server.port}/devices/CP-1"
            done = await trio.to_thread.run_sync(
                lambda: run_subprocess(
                    "test",
                    "ocpp16-hub",
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
    suites = JUnitXml.fromfile(str(report))
    cases = [case for suite in suites for case in suite]
    assert len(cases) == 5 and all(case.is_passed for case in cases)
