"""`wsctl record capture GROUP -o 'DIR/{device}.jsonl'`: every device recorded
at once, one file each, against real `wsctl serve` simulators pushing
telemetry, and a port nobody listens on."""

from __future__ import annotations

import json
import socket

import pytest
from record_helpers import Process, wsctl

from wsctl.files.recording_reader import open_recording


@pytest.fixture(scope="module")
def line(plant):
    servers = [
        Process(
            "serve",
            "--profile",
            "conveyor",
            "--telemetry-scale",
            "0.05",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
        )  # fmt: skip
        for _ in range(2)
    ]
    yield [s.url for s in servers]
    for s in servers:
        s.kill()


def test_each_device_gets_its_own_recording_and_summary(plant, line, tmp_path):
    out = wsctl(
        "--json", "record", "capture", ",".join(line), "-o", str(tmp_path / "{device}.jsonl"), "--count", "3",
        *plant.op(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    summaries = [json.loads(row) for row in out.stdout.splitlines()]
    assert sorted(s["device"] for s in summaries) == sorted(line)
    for s in summaries:
        events = list(open_recording(s["file"]))
        assert sum(1 for e in events if e.kind in ("text", "binary") and e.dir == "in") >= 3
        assert open_recording(s["file"]).header.url == s["device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        u.split("://", 1)[1].replace(":", "_").strip("/") + ".jsonl" for u in line
    )


def test_several_devices_need_a_file_each(plant, line, tmp_path):
    out = wsctl("record", "capture", ",".join(line), "-o", str(tmp_path / "one.jsonl"), "--count", "1", *plant.op())
    assert out.returncode == 2 and "{device}" in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_device_that_cannot_be_reached_does_not_stop_the_others(plant, line, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        gone = f"wss://127.0.0.1:{sock.getsockname()[1]}/"
    out = wsctl(
        "record", "capture", f"{line[0]},{gone}", "-o", str(tmp_path / "{device}.jsonl"), "--count", "2", *plant.op(),
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr  # the one failure: cannot connect
    assert f"{line[0]}: recorded" in out.stdout
    assert "connection refused" in out.stdout + out.stderr


def test_an_interrupted_fleet_capture_still_says_what_each_file_holds(plant, line, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from record_helpers import PASSWORD

    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "record", "capture", ",".join(line), "-o",
         str(tmp_path / "{device}.jsonl"), *plant.op()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "WSCTL_PASSWORD": PASSWORD},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            files = list(tmp_path.glob("*.jsonl"))
            if len(files) == 2 and all(f.stat().st_size > 400 for f in files):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    summaries = [json.loads(row) for row in out.splitlines() if row.strip()]
    assert sorted(s["device"] for s in summaries if s["event"] == "recorded") == sorted(line), out + err
