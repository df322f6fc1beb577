"""The broker goes away and comes back (without persistence: its retained
messages are gone): the hub keeps serving its devices meanwhile, reconnects
on its own, and publishes its state and its devices' presence again."""

from __future__ import annotations

import subprocess
import sys

from federation_helpers import READER, Sub, charger, start_broker, start_hub, tree


def test_a_restarted_broker_gets_the_presence_back(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    started: list = []
    try:
        hub = start_hub(tmp_path, broker, "hub-a")
        started += [hub.process, charger(tmp_path, broker, "CP-4", hub)]
        sub = Sub(broker, tree("devices", "CP-4", "state"), user=READER)
        sub.doc(tree("devices", "CP-4", "state"), lambda d: d["online"] and d["hub"] == "hub-a")
        sub.stop()

        broker.proc.terminate()
        broker.proc.wait(timeout=10)
        # the device is still served while the broker is away
        url = hub.url("/devices/CP-4")
        local = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsctl",
                "send",
                url,
                "get_configuration",
                "--profile",
                "ocpp16",
                "--certs",
                str(fed_pki.path),
                "--operator",
                "alice",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert local.returncode == 0, local.stderr

        broker = start_broker(fed_pki, tmp_path, port=broker.port)
        back = Sub(broker, tree("hubs", "hub-a", "state"), tree("devices", "CP-4", "state"), user=READER)
        try:
            assert back.doc(tree("hubs", "hub-a", "state"), lambda d: d["online"], timeout=60)["hub"] == "hub-a"
            assert back.doc(tree("devices", "CP-4", "state"), lambda d: d["online"], timeout=30)["hub"] == "hub-a"
        finally:
            back.stop()
        assert "lost the broker" in hub.process.err.read_text()
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
