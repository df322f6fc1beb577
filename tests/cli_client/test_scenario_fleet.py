"""`wsctl test SCENARIO --to A,B`: one scenario on several devices side by
side, against real `wsctl serve` simulators and a port nobody listens on."""

from __future__ import annotations

import json
import socket

import junitparser
import pytest
from client_helpers import start_server, wsctl
from junit_xsd import Validator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def line(plant):
    servers = [
        start_server(
            "--profile", "conveyor", "--certs", str(plant.certs), "--device", "dev", "--telemetry-scale", "0.05"
        )
        for _ in range(2)
    ]
    yield [s.url for s in servers]
    for s in servers:
        s.proc.kill()
        s.proc.wait(timeout=10)


def test_every_device_gets_its_cases_and_a_summary(plant, line, tmp_path):
    report = tmp_path / "line.xml"
    out = wsctl(
        "--json", "test", "conveyor", "--to", ",".join(line), *plant.op("alice"), "--yes", "--junit", str(report),
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [json.loads(row) for row in out.stdout.splitlines()]
    cases = [r for r in rows if r["event"] == "case"]
    assert {(r["device"], r["case"]) for r in cases} == {
        (url, name) for url in line for name in ("start", "speed limits", "setpoint survives a stop", "emergency stop")
    }
    assert all(r["verdict"] == "pass" for r in cases)
    summaries = {r["device"]: r for r in rows if r["event"] == "summary"}
    assert set(summaries) == set(line) and all(s["ok"] and s["counts"]["pass"] == 4 for s in summaries.values())
    Validator().validate(str(report))
    [suite] = list(junitparser.JUnitXml.fromfile(str(report)))
    assert sorted((c.classname, c.name) for c in suite) == sorted((r["device"], r["case"]) for r in cases)


def test_a_device_that_cannot_be_reached_errors_and_the_others_still_run(plant, line, tmp_path):
    gone = f"wss://127.0.0.1:{_closed_port()}/"
    report = tmp_path / "line.xml"
    out = wsctl(
        "test", "conveyor", "--to", f"{line[0]},{gone}", *plant.op("alice"), "--yes", "--junit", str(report),
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr  # the one failure there is: cannot connect
    assert f"{line[0]}: PASS  start" in out.stdout
    assert f"{line[0]}: 4 passed, 0 failed, 0 errors" in out.stdout
    assert gone in out.stdout + out.stderr
    [suite] = list(junitparser.JUnitXml.fromfile(str(report)))
    errored = [c for c in suite if c.classname == gone]
    assert len(errored) == 4 and all(c.result and c.result[0]._tag == "error" for c in errored)


def test_one_json_report_for_the_fleet(plant, line):
    out = wsctl(
        "test", "conveyor", "--to", ",".join(line), *plant.op("alice"), "--yes", "--report", "json", timeout=180
    )
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["format"] == "wsctl-test-fleet/1" and doc["ok"] is True
    assert set(doc["devices"]) == set(line)
    assert all(d["format"] == "wsctl-test-report/1" and d["counts"]["pass"] == 4 for d in doc["devices"].values())


def test_dangerous_commands_of_any_device_need_yes_before_anything_is_sent(plant, line):
    out = wsctl("test", "conveyor", "--to", ",".join(line), *plant.op("alice"), timeout=60)
    assert out.returncode == 9 and "nothing was sent" in out.stderr, out.stderr
