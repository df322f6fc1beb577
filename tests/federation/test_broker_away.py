"""An operator who connects to a hub for a device on another hub while the
hub's broker is gone (kill -9: no Last Will reaches anyone, so presence still
names the other hub) is refused at once, at the upgrade, with exit 3
(offline) and the reason, as docs/federation.md says."""

from __future__ import annotations

import time

from cli_runner import run_in_process
from federation_helpers import READER, Sub, charger, start_broker, start_hub, tree

from wsctl.core.exit_table import ExitCode


def test_a_call_for_a_device_on_another_hub_is_exit_3_while_the_broker_is_unreachable(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    started: list = []
    try:
        hubs = [start_hub(tmp_path, broker, name) for name in ("hub-a", "hub-b")]
        started += [h.process for h in hubs]
        states = Sub(broker, tree("devices", "CP-1", "state"), user=READER)
        started.append(charger(tmp_path, broker, "CP-1", hubs[0]))
        states.doc(tree("devices", "CP-1", "state"), lambda d: d["online"] and d["hub"] == "hub-a" and d["firmware"])
        states.stop()
        broker.proc.kill()
        broker.proc.wait(timeout=10)
        log = hubs[1].process.err
        deadline = time.monotonic() + 10
        while "lost the broker" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        url = hubs[1].url("/devices/CP-1")
        started_at = time.monotonic()
        done = run_in_process(
            "--json", "send", url, "get_configuration", "--profile", "ocpp16", "--certs", str(fed_pki.path),
            "--operator", "alice",
        )  # fmt: skip
        assert done.returncode == ExitCode.CONNECT, (done.stdout, done.stderr)
        assert "CP-1 is on hub hub-a, but the broker is unreachable" in done.stdout + done.stderr
        assert time.monotonic() - started_at < 10
    finally:
        for process in started:
            process.stop()
        if broker.proc.poll() is None:
            broker.proc.terminate()
            broker.proc.wait(timeout=10)
