"""`wsctl test`: scenario packs against real `wsctl serve` simulators, verdicts,
JUnit files checked against the Ant JUnit schema and read with junitparser."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import junitparser
import pytest
from client_helpers import start_server, wsctl
from junit_xsd import Validator


@pytest.fixture(scope="module")
def schema():
    return Validator()


def simulator(plant, profile: str):
    return start_server(
        "--profile", profile, "--certs", str(plant.certs), "--device", "dev", "--telemetry-scale", "0.05"
    )


@pytest.fixture
def conveyor(plant):
    server = simulator(plant, "conveyor")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=10)


def read_junit(path: Path, schema) -> dict:
    schema.validate(str(path))
    [suite] = list(junitparser.JUnitXml.fromfile(str(path)))
    return {case.name: case for case in suite}


def test_the_conveyor_packs_pass_against_the_simulator(plant, conveyor, tmp_path, schema):
    report = tmp_path / "conveyor.xml"
    out = wsctl(
        "test", "conveyor", "--to", conveyor.url, *plant.op("alice"), "--yes", "--junit", str(report), timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == [line for line in lines[:4] if line.startswith("PASS  ")]
    assert lines[-1].startswith("4 passed, 0 failed, 0 errors (conveyor")
    cases = read_junit(report, schema)
    assert list(cases) == ["start", "speed limits", "setpoint survives a stop", "emergency stop"]
    assert all(case.is_passed for case in cases.values())
    # role refusals, as an observer: refused machine commands, an e-stop anyone may press
    out = wsctl("test", "conveyor-observer", "--to", conveyor.url, *plant.op("bob"), "--yes", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_refusal_that_does_not_come_fails_the_case(plant, conveyor, tmp_path, schema):
    # an engineer is not refused: the observer pack must say so, not pass
    report = tmp_path / "r.xml"
    out = wsctl(
        "test",
        "conveyor-observer",
        "--to",
        conveyor.url,
        *plant.op("alice"),
        "--yes",
        "--junit",
        str(report),
        timeout=120,
    )
    assert out.returncode == 7, out.stdout + out.stderr
    assert "FAIL observer may not run the belt" in out.stdout
    assert "step 1 (send start): expected a refusal (not_authorized), got a reply" in out.stdout
    cases = read_junit(report, schema)
    [failure] = cases["observer may not run the belt"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "step 1 (send start): expected a refusal (not_authorized), got a reply"
    assert failure.text.startswith("reply: {")
    assert cases["observer may stop the belt in an emergency"].is_passed


SCENARIO = """
format = "wsctl-scenario/1"
[scenario]
id = "acceptance"
profile = "conveyor"

[[cases]]
name = "belt runs"
[[cases.steps]]
send = "reset"
[[cases.steps]]
send = "start"
expect = { "/state" = "running" }

[[cases]]
name = "wrong speed"
[[cases.steps]]
send = "set_speed"
params = { speed = 800 }
expect = { "/speed" = { min = 1000, max = 3000 }, "/state" = "running" }

[[cases]]
name = "telemetry that never comes"
[[cases.steps]]
wait = "telemetry"
timeout = 0.5
expect = { "/state" = "flying" }

[[cases]]
name = "raw json-rpc"
[[cases.steps]]
raw = '{"jsonrpc":"2.0","id":"t1","method":"conveyor.nope","params":{}}'
expect = { "/id" = "t1", "/error/code" = -32601 }
"""


def test_failures_carry_reason_and_diff_in_every_report(plant, conveyor, tmp_path, schema):
    path = tmp_path / "acceptance.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    report = tmp_path / "acceptance.xml"
    out = wsctl("test", str(path), "--to", conveyor.url, *plant.op("alice"), "--junit", str(report), timeout=120)
    assert out.returncode == 7, out.stdout + out.stderr
    assert "FAIL wrong speed" in out.stdout and "/speed: expected >= 1000, got 800" in out.stdout
    cases = read_junit(report, schema)
    assert cases["belt runs"].is_passed and cases["raw json-rpc"].is_passed
    [wrong] = cases["wrong speed"].result
    assert wrong.message == "step 1 (send set_speed): 1 expectation(s) not met: /speed: expected >= 1000, got 800"
    assert wrong.text.splitlines() == ["/speed: expected >= 1000, got 800", 'reply: {"speed":800,"state":"running"}']
    [never] = cases["telemetry that never comes"].result
    assert (
        "no telemetry event as expected within 0.5 s" in never.message
        and '/state: expected "flying", got "running"' in never.text
    )

    out = wsctl("test", str(path), "--to", conveyor.url, *plant.op("alice"), "--report", "json", timeout=120)
    assert out.returncode == 7
    doc = json.loads(out.stdout)
    assert doc["format"] == "wsctl-test-report/1" and doc["counts"] == {"pass": 2, "fail": 2, "error": 0}
    by_name = {c["case"]: c for c in doc["cases"]}
    assert (
        by_name["wrong speed"]["verdict"] == "fail"
        and by_name["wrong speed"]["diff"][0] == "/speed: expected >= 1000, got 800"
    )

    out = wsctl(
        "--json", "test", str(path), "--to", conveyor.url, *plant.op("alice"), "--case", "belt runs", timeout=120
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["case", "summary"] and events[0]["verdict"] == "pass"


@pytest.mark.parametrize(
    "pack, profile, transaction", [("ocpp16", "ocpp16-charger", 1001), ("ocpp201", "ocpp201-charger", "CS-0001-1001")]
)
def test_the_ocpp_packs_pass_against_the_charger_simulators(plant, tmp_path, schema, pack, profile, transaction):
    server = simulator(plant, profile)
    try:
        report = tmp_path / f"{pack}.xml"
        out = wsctl("test", pack, "--to", server.url, *plant.op("alice"), "--yes", "--junit", str(report), timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        cases = read_junit(report, schema)
        assert list(cases) == [
            "boot accepted",
            "heartbeat",
            "remote start, meter values, remote stop",
            "reset",
            "unknown action is NotImplemented",
        ]
        assert all(case.is_passed for case in cases.values())
        # what the charger was told, in the simulator's own audit: the transaction the pack stopped is the one it saved
        commands = [line for line in server.lines() if line.get("event") == "command"]
        stops = [c for c in commands if c.get("command") == "remote_stop"]
        assert [s["result"] for s in stops] == ["ok", "rejected"] and stops[0]["params"] == {
            "transaction_id": transaction
        }
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def test_an_unreachable_device_errors_every_case_and_is_tried_once(plant, tmp_path, schema):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = tmp_path / "down.xml"
    out = wsctl(
        "test",
        "conveyor",
        "--to",
        f"wss://127.0.0.1:{port}/",
        *plant.op("alice"),
        "--yes",
        "--junit",
        str(report),
        timeout=60,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    cases = read_junit(report, schema)
    results = [case.result[0] for case in cases.values()]
    assert all(isinstance(r, junitparser.Error) and r.type == "connect" for r in results)
    assert results[0].message.startswith("cannot connect: ")
    assert all(r.message.startswith("not run: ") for r in results[1:])


def test_bad_input_is_refused_before_anything_is_sent(plant, conveyor, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace("min = 1000", "minimum = 1000"), encoding="utf-8")
    out = wsctl("test", str(bad), "--to", conveyor.url, *plant.op("alice"))
    assert out.returncode == 8
    assert out.stderr.count("\n") <= 2 and "cases[2].steps[1].expect./speed: unknown test 'minimum'" in out.stderr
    assert "Traceback" not in out.stderr
    out = wsctl("test", "conveyor", "--to", conveyor.url, *plant.op("alice"))
    assert out.returncode == 9 and "sends dangerous commands (estop)" in out.stderr
    out = wsctl("test", "no-such-pack", "--to", conveyor.url, *plant.op("alice"))
    assert out.returncode == 8 and "no such scenario file: no-such-pack" in out.stderr and "conveyor" in out.stderr
    out = wsctl("test", str(bad).replace("bad", "none"), "--to", conveyor.url, "--case", "x", *plant.op("alice"))
    assert out.returncode == 8
    good = tmp_path / "good.toml"
    good.write_text(SCENARIO, encoding="utf-8")
    out = wsctl("test", str(good), "--to", conveyor.url, "--case", "nope", *plant.op("alice"))
    assert out.returncode == 2 and "has no such case" in out.stderr
    # none of it reached the device
    assert not [line for line in conveyor.lines() if line.get("event") == "command"]


def test_sigterm_still_writes_the_verdicts_so_far(plant, conveyor, tmp_path, schema):
    import os
    import select
    import signal
    import subprocess
    import sys

    from client_helpers import PASSWORD

    path = tmp_path / "long.toml"
    path.write_text(
        """
format = "wsctl-scenario/1"
[scenario]
id = "long"
profile = "conveyor"
[[cases]]
name = "quick"
[[cases.steps]]
send = "status"
[[cases]]
name = "slow"
[[cases.steps]]
wait = "telemetry"
timeout = 120
expect = { "/state" = "flying" }
[[cases]]
name = "never reached"
[[cases.steps]]
send = "status"
""",
        encoding="utf-8",
    )
    report = tmp_path / "long.xml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wsctl",
            "test",
            str(path),
            "--to",
            conveyor.url,
            *plant.op("alice"),
            "--junit",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline().startswith("PASS  quick")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 143
    cases = read_junit(report, schema)
    assert cases["quick"].is_passed
    assert cases["slow"].is_skipped and cases["never reached"].is_skipped
    assert cases["slow"].result[0].message == "not finished: interrupted"


def test_the_example_in_the_docs_runs_against_the_simulator(plant, conveyor, tmp_path):
    doc = (Path(__file__).resolve().parent.parent.parent / "docs" / "testing.md").read_text(encoding="utf-8")
    example = doc.split("## A scenario file (paste-able)\n\n```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "acceptance.toml"
    path.write_text(example, encoding="utf-8")
    out = wsctl("test", str(path), "--to", conveyor.url, *plant.op("alice"), "--yes", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1].startswith("4 passed, 0 failed, 0 errors (line-3-acceptance")


def test_json_case_and_summary_lines_speak_the_one_error_vocabulary(plant, conveyor, tmp_path):
    path = tmp_path / "acceptance.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    out = wsctl("--json", "test", str(path), "--to", conveyor.url, *plant.op("alice"), timeout=120)
    assert out.returncode == 7, out.stderr
    *cases, summary = [json.loads(line) for line in out.stdout.splitlines()]
    wrong = next(c for c in cases if c["case"] == "wrong speed")
    assert (wrong["error"], wrong["exit_code"], wrong["kind"]) == ("device_error", 7, "device_error")
    assert wrong["message"] == wrong["reason"] and "/speed: expected >= 1000" in wrong["message"]
    passed = next(c for c in cases if c["case"] == "belt runs")
    assert not {"error", "message", "exit_code"} & set(passed)
    assert summary["event"] == "summary" and summary["exit_code"] == 7

    # not reached: every case errs with the connect error; the summary carries its code
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = wsctl("--json", "test", str(path), "--to", f"wss://127.0.0.1:{port}/", *plant.op("alice"), timeout=60)
    assert out.returncode == 3, out.stderr
    *cases, summary = [json.loads(line) for line in out.stdout.splitlines()]
    assert all(
        (c["verdict"], c["error"], c["exit_code"], c["kind"]) == ("error", "connect", 3, "connect") for c in cases
    )
    assert summary["exit_code"] == 3


def test_a_tls_failure_is_not_reported_as_cannot_connect(plant, tmp_path):
    """A plain TCP listener that closes at once: the TLS handshake fails (exit 4);
    the case's reason says that, not "cannot connect"."""
    import json
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def refuse() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    try:
        out = wsctl(
            "--json", "test", "conveyor", "--to", f"wss://127.0.0.1:{port}/", *plant.op("alice"), "--yes", timeout=60
        )
    finally:
        listener.close()
    assert out.returncode == 4, out.stdout + out.stderr
    first = next(json.loads(line) for line in out.stdout.splitlines() if '"case"' in line)
    assert first["kind"] == "tls" and not first["reason"].startswith("cannot connect"), first
