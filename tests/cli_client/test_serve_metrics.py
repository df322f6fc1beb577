"""`serve --metrics` (issue 15, section 3): the Prometheus endpoint is scraped
after known traffic — two good connections, one client without a certificate,
one refused command — and names, types and values are checked; the text passes
`promtool check metrics` when Debian's promtool is there."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request

import pytest
from client_helpers import start_server, wsctl

pytest.importorskip("prometheus_client")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        return answer.read().decode()


def _samples(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def _types(text: str) -> dict[str, str]:
    return {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}


@pytest.fixture
def metered_conveyor(plant):
    server = start_server(
        "--profile", "conveyor", "--certs", str(plant.certs), "--device", "dev", "--metrics", str(_free_port())
    )
    yield server
    server.proc.kill()
    server.proc.wait(timeout=10)


def _wait_for(url: str, key: str, value: float) -> dict[str, float]:
    import time

    deadline = time.monotonic() + 15
    while True:  # access records are counted when a connection has ended
        samples = _samples(_scrape(url))
        if samples.get(key) == value or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def test_metrics_after_known_traffic(plant, metered_conveyor):
    metrics_url = metered_conveyor.first["metrics"]
    assert metrics_url.startswith("http://127.0.0.1:") and metrics_url.endswith("/metrics")
    url = metered_conveyor.url
    assert wsctl("send", url, "status", "--profile", "conveyor", *plant.op("alice")).returncode == 0
    assert wsctl("send", url, "stop", "--profile", "conveyor", *plant.op("bob")).returncode == 9  # observer: refused
    assert (
        wsctl("send", url, "--raw", "x", "--ca", str(plant.certs / "ca" / "root.crt")).returncode == 4
    )  # no certificate
    samples = _wait_for(metrics_url, "wsctl_connections_total{outcome=tls-failed}", 1.0)
    assert samples["wsctl_connections_total{outcome=closed}"] == 2.0
    assert samples["wsctl_connections_total{outcome=tls-failed}"] == 1.0
    assert samples["wsctl_commands_total{command=status,result=ok}"] == 1.0
    assert samples["wsctl_commands_total{command=stop,result=denied}"] == 1.0
    assert samples["wsctl_command_seconds_count{command=status}"] == 1.0  # answered once, its time observed
    assert 0 <= samples["wsctl_command_seconds_sum{command=status}"] < 10
    assert samples["wsctl_messages_total{direction=in}"] >= 2.0  # two requests at least
    assert samples["wsctl_bytes_total{direction=out}"] > 0
    assert samples["wsctl_connections_open"] == 0.0 and samples["wsctl_handshakes_pending"] == 0.0
    assert 0 < samples["wsctl_crl_seconds_left"] < 400 * 86400
    types = _types(_scrape(metrics_url))
    assert types.get("wsctl_connections", types.get("wsctl_connections_total")) == "counter"
    assert types["wsctl_connections_open"] == "gauge" and types["wsctl_command_seconds"] == "histogram"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_metrics_text_passes_promtool(plant, metered_conveyor):
    text = _scrape(metered_conveyor.first["metrics"])
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_port_in_use_is_a_clear_error(plant):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = wsctl(
            "--json",
            "serve",
            "--echo",
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            f"127.0.0.1:{port}",
            timeout=30,
        )
    assert out.returncode == 8
    assert "cannot listen" in json.loads(out.stderr.splitlines()[-1])["message"]


def test_without_a_crl_there_is_no_crl_series():
    # an unset gauge would read 0, and "the CRL lapses within a day" would alert
    server = start_server("--echo", "--allow-plaintext", "--metrics", str(_free_port()))
    try:
        samples = _samples(_scrape(server.first["metrics"]))
        assert "wsctl_connections_open" in samples and "wsctl_crl_seconds_left" not in samples
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)
