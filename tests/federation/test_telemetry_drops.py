"""Telemetry while the broker is away is dropped (QoS 0, never queued), and
never silently: the hub's `wsctl_hub_broker_messages_total{outcome="dropped"}`
counts it and a warning says how many; back, the broker gets readings again."""

from __future__ import annotations

import re
import time
import urllib.request

from federation_helpers import CONVEYORS, READER, Process, Sub, free_port, register, start_broker, start_hub, tree


def counts(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    found = {"published": 0.0, "dropped": 0.0}
    for line in text.splitlines():
        hit = re.match(r'wsctl_hub_broker_messages_total\{kind="telemetry",outcome="(\w+)"\} (\S+)', line)
        if hit:
            found[hit.group(1)] = float(hit.group(2))
    return found


def wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def test_readings_dropped_while_the_broker_is_away_are_counted_and_told(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    started: list[Process] = []
    try:
        hub = start_hub(tmp_path, broker, "hub-a", "--metrics", f"127.0.0.1:{metrics_port}")
        started.append(hub.process)
        register(hub.registry, CONVEYORS, profile="conveyor")
        sub = Sub(broker, tree("devices", "+", "telemetry", "+"), user=READER)
        started.append(
            Process(tmp_path, "sim-plc-1", "--json", "serve", "--profile", "conveyor",
                    "--dial", hub.url("/devices/plc-1"), "--certs", str(fed_pki.path), "--device", "plc-1",
                    "--telemetry-scale", "0.05")
        )  # fmt: skip
        sub.doc(tree("devices", "plc-1", "telemetry", "conveyor.telemetry"))
        sub.stop()
        # the count is told once paho has written the packet, which may be after the reader got it
        wait(lambda: counts(metrics)["published"] >= 1, 10, "the published count")
        assert counts(metrics)["dropped"] == 0

        broker.proc.terminate()
        broker.proc.wait(timeout=10)
        dropped = wait(lambda: counts(metrics)["dropped"], 30, "dropped reading")
        warned = wait(
            lambda: [line for line in hub.process.err.read_text().splitlines() if "not published" in line],
            30,
            "warning",
        )
        assert re.search(
            r"\d+ device message\(s\) not published \(no broker connection, or it does not keep up; \d+ since start\)",
            warned[0],
        )

        broker = start_broker(fed_pki, tmp_path, port=broker.port)
        before = counts(metrics)["published"]
        wait(lambda: counts(metrics)["published"] > before, 60, "reading published after the broker came back")
        assert counts(metrics)["dropped"] >= dropped
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
