"""`wsctl hub --metrics`: the hub's own metrics beside the server's, in the
Prometheus text format (checked by promtool when it is installed)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_hub_cli import Process, send, wait_online


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    if shutil.which("promtool"):
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _start_hub(hub_pki, tmp_path, metrics: str, *more: str):
    from cli_runner import run_subprocess

    registry = str(tmp_path / "hub.db")
    store = str(hub_pki.store.path)
    assert (
        run_subprocess("hub", "devices", "add", "CP-1", "--profile", "ocpp16", "--registry", registry).returncode == 0
    )
    hub = Process(
        "--json", "hub", "--listen", "127.0.0.1:0", "--certs", store, "--device", "hub", "--registry", registry,
        "--metrics", metrics, *more,
    )  # fmt: skip
    port = hub.first["url"].rsplit(":", 1)[1].split("/")[0]
    return hub, {"registry": registry, "store": store, "port": port, "metrics": hub.first["metrics"]}


@pytest.fixture
def metered_hub(hub_pki, tmp_path):
    hub, ctx = _start_hub(hub_pki, tmp_path, "127.0.0.1:0")
    yield ctx
    hub.stop()


def test_hub_metrics_count_devices_admissions_and_calls(metered_hub):
    ctx = metered_hub
    charger = Process(
        "serve", "--profile", "ocpp16-charger", "--dial", f"wss://localhost:{ctx['port']}/ocpp/CP-1",
        "--certs", ctx["store"], "--device", "CP-1", first_line=False,
    )  # fmt: skip
    try:
        wait_online(ctx["registry"], "CP-1")
        assert send(ctx, "CP-1", "reset", "type=Soft").returncode == 0
        assert send(ctx, "CP-1", "reset", "type=Soft", operator="bob").returncode == 9
        values = scrape(ctx["metrics"])
        assert values[("wsctl_hub_devices_online", ())] == 1
        assert values[("wsctl_hub_devices_registered", ())] == 1
        assert values[("wsctl_hub_queued_commands", ())] == 0
        assert values[("wsctl_hub_admissions_total", (("outcome", "device"),))] >= 1
        assert values[("wsctl_hub_admissions_total", (("outcome", "operator"),))] == 2
        assert values[("wsctl_hub_calls_total", (("command", "reset"), ("outcome", "ok")))] == 1
        assert values[("wsctl_hub_calls_total", (("command", "reset"), ("outcome", "refused")))] == 1
        assert values[("wsctl_hub_call_seconds_count", (("command", "reset"),))] == 1
    finally:
        charger.stop()


def _curl(hub_pki, url: str, leaf=None) -> tuple[int, str]:
    cert = ["--cert", str(leaf.chain), "--key", str(leaf.key)] if leaf is not None else []
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", str(hub_pki.root), *cert, "-w", "\n%{http_code}", url],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    body, _, status = out.stdout.rpartition("\n")
    return int(status or 0), body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_hub_metrics_on_the_tls_port_for_operators(hub_pki, tmp_path):
    # the hub asks for client certificates without requiring them (devices may
    # use passwords), so a client without one reaches /metrics and is refused there
    hub, ctx = _start_hub(hub_pki, tmp_path, "tls")
    charger = Process(
        "serve", "--profile", "ocpp16-charger", "--dial", f"wss://localhost:{ctx['port']}/ocpp/CP-1",
        "--certs", ctx["store"], "--device", "CP-1", first_line=False,
    )  # fmt: skip
    try:
        assert ctx["metrics"] == f"https://127.0.0.1:{ctx['port']}/metrics"
        wait_online(ctx["registry"], "CP-1")
        status, text = _curl(hub_pki, ctx["metrics"], hub_pki.bob)
        assert status == 200, text
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        assert values[("wsctl_hub_devices_online", ())] == 1
        if shutil.which("promtool"):
            checked = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
        for leaf, why in ((None, "sent none"), (hub_pki.sam, "security-admin"), (hub_pki.chargers["CP-2"], "device")):
            status, text = _curl(hub_pki, ctx["metrics"], leaf)
            assert status == 403 and why in text
        # the operators' path is the hub's as before
        assert send(ctx, "CP-1", "reset", "type=Soft").returncode == 0
    finally:
        charger.stop()
        hub.stop()


def test_hub_metrics_count_the_bytes_recorded(hub_pki, tmp_path):
    import time

    out = tmp_path / "rec"
    hub, ctx = _start_hub(hub_pki, tmp_path, "127.0.0.1:0", "--record-dir", str(out))
    try:
        assert scrape(ctx["metrics"])[("wsctl_hub_recorded_bytes_total", ())] == 0
        charger = Process(
            "serve", "--profile", "ocpp16-charger", "--dial", f"wss://localhost:{ctx['port']}/ocpp/CP-1",
            "--certs", ctx["store"], "--device", "CP-1", first_line=False,
        )  # fmt: skip
        try:
            wait_online(ctx["registry"], "CP-1")
            assert send(ctx, "CP-1", "reset", "type=Soft").returncode == 0
        finally:
            charger.stop()
        deadline = time.monotonic() + 15  # counted when the device's connection has closed
        while (recorded := scrape(ctx["metrics"])[("wsctl_hub_recorded_bytes_total", ())]) == 0:
            assert time.monotonic() < deadline, "the closed connection's recording was not counted"
            time.sleep(0.1)
        files = list(out.rglob("*.jsonl*"))
        assert files and recorded == sum(f.stat().st_size for f in files)
    finally:
        hub.stop()


def test_command_labels_are_bounded():
    """Command names come from operators and MQTT publishers: past 256 distinct
    names they are counted as one "(other)" label, not a series each."""
    pytest.importorskip("prometheus_client")
    from prometheus_client import generate_latest

    from wsctl.net.hub.metrics import MAX_COMMAND_LABELS, HubMetrics

    metrics = HubMetrics()
    for n in range(MAX_COMMAND_LABELS + 500):
        metrics.call(f"cmd-{n}", "refused", None)
    metrics.call("cmd-0", "ok", 0.01)  # a name already seen keeps its label
    text = generate_latest(metrics.registry).decode()
    names = {
        line.split('command="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("wsctl_hub_calls_total")
    }
    assert len(names) == MAX_COMMAND_LABELS + 1 and "(other)" in names and "cmd-0" in names
    assert 'wsctl_hub_calls_total{command="(other)",outcome="refused"} 500.0' in text
