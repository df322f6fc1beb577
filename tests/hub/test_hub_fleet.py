"""A fleet through the hub: `wsctl hub inventory` writes the registry's
devices and groups as an inventory, and `wsctl send GROUP` fans out through the
hub with one line per device."""

from __future__ import annotations

import json
import tomllib

import trio
from cli_runner import run_in_process, run_subprocess
from hub_helpers import running_hub
from test_hub_devices_dial_in import dial_charger, wait_online

from wsctl.core.exit_table import ExitCode


def test_inventory_lists_devices_and_groups(tmp_path):
    reg = str(tmp_path / "hub.db")
    for name, group in (("CP-1", "east"), ("CP-2", "east"), ("CP-3", "west")):
        assert (
            run_in_process(
                "hub", "devices", "add", name, "--profile", "ocpp16", "--group", group, "--registry", reg
            ).returncode
            == 0
        )
    done = run_in_process(
        "hub",
        "inventory",
        "--url",
        "wss://hub.plant:8443",
        "--certs",
        "certs",
        "--operator",
        "alice",
        "--registry",
        reg,
    )
    assert done.returncode == 0, done.stderr
    inv = tomllib.loads(done.stdout)
    assert inv["defaults"] == {"certs": "certs", "operator": "alice"}
    assert inv["devices"]["CP-1"] == {"url": "wss://hub.plant:8443/devices/CP-1", "profile": "ocpp16"}
    assert inv["groups"] == {"east": ["CP-1", "CP-2"], "west": ["CP-3"]}
    bad = run_in_process("hub", "inventory", "--url", "http://hub", "--registry", reg)
    assert bad.returncode == ExitCode.USAGE


async def test_send_to_a_group_fans_out_through_the_hub(hub_pki, registry, tmp_path):
    for name in ("CP-1", "CP-2"):
        registry.add_device(name, profile="ocpp16", groups=("east",))
    registry.add_device("CP-3", profile="ocpp16", groups=("east",))  # never connects
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            for name in ("CP-1", "CP-2"):
                await dial_charger(nursery, hub, hub_pki, name)
                await wait_online(hub, name)
            inv = tmp_path / "hub.toml"
            written = await trio.to_thread.run_sync(
                lambda: run_subprocess(
                    "hub",
                    "inventory",
                    "--url",
                    f"wss://localhost:{hub.server.port}",
                    "--certs",
                    str(hub_pki.store.path),
                    "--operator",
                    "alice",
                    "--registry",
                    registry.path,
                    "-o",
                    str(inv),
                )  # fmt: skip
            )
            assert written.returncode == 0, written.stderr
            sent = await trio.to_thread.run_sync(
                lambda: run_subprocess(
                    "--json",
                    "send",
                    "east",
                    "trigger_message",
                    "requested_message=StatusNotification",
                    "--inventory",
                    str(inv),
                )
            )
            nursery.cancel_scope.cancel()
    assert sent.stdout.strip(), sent.stderr
    results = [json.loads(line) for line in sent.stdout.splitlines() if line.strip()]
    by_device = {r.get("device"): r for r in results if r.get("device")}
    assert set(by_device) == {"CP-1", "CP-2", "CP-3"}, results
    assert by_device["CP-1"]["ok"] and by_device["CP-2"]["ok"]
    assert not by_device["CP-3"]["ok"] and by_device["CP-3"]["error"] == "connect"
    assert sent.returncode == ExitCode.CONNECT
