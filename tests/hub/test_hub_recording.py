"""``--record-dir``: every message of every device connection, both
directions, in the record format — one file per connection — readable by
`record show` and servable by `serve --replay`."""

from __future__ import annotations

import json

import trio
from cli_runner import run_in_process
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_devices_dial_in import dial_charger, wait_online

from wsctl.net.api import open_device


async def test_hub_records_each_device_connection(hub_pki, registry, tmp_path):
    registry.add_device("CP-1", profile="ocpp16")
    out = tmp_path / "rec"
    out.mkdir()
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, record_dir=str(out)) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1")
            link = await wait_online(hub, "CP-1")
            with trio.fail_after(10):
                await link.booted.wait()
            async with open_device(
                hub_url(hub, "/devices/CP-1"), profile="ocpp16", **client_tls(hub_pki, hub_pki.alice)
            ) as dev:
                assert await dev.call("get_configuration", key=["HeartbeatInterval"]) is not None
            await link.close(1000, "test over")
            with trio.fail_after(10):
                await link.gone.wait()
            nursery.cancel_scope.cancel()
    files = sorted(out.iterdir())
    assert len(files) == 1 and files[0].name.startswith("CP-1-"), files
    assert hub.recorded_bytes == files[0].stat().st_size  # what --metrics shows as wsctl_hub_recorded_bytes
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert lines[0]["source"] == "hub" and lines[0]["profile"] == "ocpp16"
    messages = [e for e in lines[1:] if e.get("kind") == "text"]
    sent = [json.loads(e["data"]) for e in messages if e["dir"] == "out"]
    got = [json.loads(e["data"]) for e in messages if e["dir"] == "in"]
    assert any(m[0] == 2 and m[2] == "GetConfiguration" for m in sent), sent
    assert any(m[0] == 2 and m[2] == "BootNotification" for m in got), got
    # the hub's answers to the charger's calls are recorded too
    assert any(m[0] == 3 and "currentTime" in m[2] for m in sent), sent
    shown = run_in_process("record", "show", str(files[0]))
    assert shown.returncode == 0, shown.stderr
    assert "BootNotification" in shown.stdout and "GetConfiguration" in shown.stdout


async def test_hub_recordings_rotate_at_the_size_given(hub_pki, registry, tmp_path):
    registry.add_device("CP-1", profile="ocpp16")
    out = tmp_path / "rec"
    out.mkdir()
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, record_dir=str(out), record_max_size=4096) as hub:
            charger = client_tls(hub_pki, hub_pki.chargers["CP-1"])
            async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **charger) as dev:
                for i in range(60):
                    await dev.send(json.dumps([2, f"h{i}", "Heartbeat", {}]))
                    with trio.fail_after(10):
                        await dev.receive()
            nursery.cancel_scope.cancel()
    parts = sorted(p.name for p in out.iterdir())
    assert len(parts) >= 2, parts
    # each part starts with its own header, so it reads alone
    for part in out.iterdir():
        assert json.loads(part.read_text().splitlines()[0])["source"] == "hub"
    shown = run_in_process("record", "show", str(sorted(out.iterdir())[0]), "--stats")
    assert shown.returncode == 0, shown.stderr
