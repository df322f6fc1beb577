"""`record --listen ... --metrics` (issue 15, section 3): after known traffic
through the recording proxy, the scrape says how many bytes the recording
holds (the file's size on disk), the proxy's connections and messages, and
the text passes `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
import trio
from record_helpers import Process, recorded

from wsctl.net.api import open_device

pytest.importorskip("prometheus_client")


def scrape(url: str) -> tuple[str, dict[str, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=10).read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return text, values


async def test_the_recordings_bytes_written_after_known_traffic(plant, echo, tmp_path):
    path = tmp_path / "p.jsonl"
    proxy = Process(
        "record", "--listen", "127.0.0.1:0", "--upstream", echo.url, "-o", str(path),
        "--certs", str(plant.certs), "--device", "dev", "--operator", "alice", "--metrics", "127.0.0.1:0",
    )  # fmt: skip
    try:
        metrics_url = proxy.first["metrics"]
        assert metrics_url.startswith("http://127.0.0.1:")
        _, before = scrape(metrics_url)
        assert before["wsctl_recorded_bytes_total"] == path.stat().st_size  # the header line
        url = f"wss://localhost:{proxy.url.rsplit(':', 1)[1]}"
        async with open_device(url, **plant.client_kwargs()) as dev:
            for message in ("one", "two", "x" * 1000):
                await dev.send(message)
                assert await dev.receive(timeout=5) == message
        await recorded(path, lambda e: e.kind == "close")
        with trio.fail_after(10):  # the access record is counted once the proxy has closed its side too
            while (values := scrape(metrics_url)[1]).get("wsctl_connections_total{outcome=closed}") != 1:
                await trio.sleep(0.05)
        assert values["wsctl_recorded_bytes_total"] == path.stat().st_size > before["wsctl_recorded_bytes_total"]
        assert values["wsctl_messages_total{direction=in}"] == 3
        assert values["wsctl_bytes_total{direction=in}"] == 3 + 3 + 1000
        text, _ = scrape(metrics_url)
        assert "# TYPE wsctl_recorded_bytes_total counter" in text
        if shutil.which("promtool"):
            check = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
            )
            assert check.returncode == 0, check.stdout + check.stderr
    finally:
        proxy.kill()
