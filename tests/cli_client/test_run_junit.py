"""`wsctl run --junit`: one JUnit test case per script line (and device)."""

from __future__ import annotations

from pathlib import Path

import junitparser
from client_helpers import wsctl
from junit_xsd import validate

from wsctl.core.exit_table import ExitCode


def cases(path: Path) -> list:
    validate(path)
    [suite] = list(junitparser.JUnitXml.fromfile(str(path)))
    return list(suite)


def test_each_line_is_a_case_and_lines_after_a_failure_are_skipped(plant, jsonrpc_device, tmp_path):
    url, received = jsonrpc_device
    report = tmp_path / "run.xml"
    script = "status\nsleep 0.01\nstart\nstatus\n"
    out = wsctl("run", url, "-", "--profile", "conveyor", *plant.op("alice"), "--junit", str(report), input=script)
    assert out.returncode == ExitCode.DEVICE_ERROR, out.stderr
    status, start, after = cases(report)
    assert (status.name, status.is_passed) == ("line 1: status", True)
    [failure] = start.result
    assert start.name == "line 3: start" and isinstance(failure, junitparser.Failure)
    assert "belt jammed at station 3" in failure.message and failure.type == "device_error"
    assert after.name == "line 4: status" and after.is_skipped
    # --keep-going runs it: then it is a case of its own
    out = wsctl(
        "run",
        url,
        "-",
        "--profile",
        "conveyor",
        "--keep-going",
        *plant.op("alice"),
        "--junit",
        str(report),
        input=script,
    )
    assert [c.is_passed for c in cases(report)] == [True, False, True]


def test_an_unreachable_device_errors_every_line(plant, tmp_path):
    report = tmp_path / "run.xml"
    out = wsctl(
        "run",
        "wss://127.0.0.1:1/",
        "-",
        "--profile",
        "conveyor",
        *plant.op("alice"),
        "--junit",
        str(report),
        input="status\nstop\n",
    )
    assert out.returncode == ExitCode.CONNECT
    found = cases(report)
    assert [c.name for c in found] == ["line 1: status", "line 2: stop"]
    assert all(isinstance(c.result[0], junitparser.Error) and c.result[0].type == "connect" for c in found)


def test_a_junit_file_that_cannot_be_written_is_refused_before_anything_is_sent(plant, jsonrpc_device, tmp_path):
    url, received = jsonrpc_device
    report = tmp_path / "no-such-dir" / "run.xml"
    out = wsctl("--json", "run", url, "-", "--profile", "conveyor", *plant.op("alice"), "--junit", str(report),
                input="status\n")  # fmt: skip
    assert out.returncode == ExitCode.INVALID, out.stderr
    assert "no such directory" in out.stderr and out.stdout == ""
    assert received == []
