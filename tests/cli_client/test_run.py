"""`wsctl run`: scripts of profile commands, checked before anything is sent."""

from __future__ import annotations

import json

import pytest
from client_helpers import wsctl

from wsctl.cli.run import parse_script
from wsctl.core.errors import InvalidInput
from wsctl.core.exit_table import ExitCode


def test_script_runs_in_order_with_a_line_per_command(plant, jsonrpc_device):
    url, received = jsonrpc_device
    script = "# commissioning\nstatus\nsleep 0.05\nset_speed speed=800\n"
    out = wsctl("--json", "run", url, "-", "--profile", "conveyor", *plant.op("alice"), input=script)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["line"], r["command"], r["ok"]) for r in rows] == [(2, "status", True), (4, "set_speed", True)]
    assert [m["method"] for m in received] == ["conveyor.status", "conveyor.set_speed"]


def test_stops_at_the_first_failure_with_its_exit_code(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("--json", "run", url, "-", "--profile", "conveyor", *plant.op("alice"), input="start\nstatus\n")
    assert out.returncode == ExitCode.DEVICE_ERROR
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["ok"] is False and "belt jammed" in rows[0]["message"]
    assert [m["method"] for m in received] == ["conveyor.start"]


def test_keep_going_runs_the_rest(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("run", url, "-", "--profile", "conveyor", "--keep-going", *plant.op("alice"), input="start\nstatus\n")
    assert out.returncode == ExitCode.DEVICE_ERROR
    assert "line 1: FAIL start" in out.stdout and "line 2: ok status" in out.stdout
    assert len(received) == 2


def test_a_bad_line_anywhere_stops_the_script_before_anything_is_sent(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("run", url, "-", "--profile", "conveyor", *plant.op("alice"), input="status\nset_speed speed=99999\n")
    assert out.returncode == ExitCode.INVALID and "<stdin>:2:" in out.stderr
    assert received == []


def test_dangerous_line_needs_yes(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("run", url, "-", "--profile", "conveyor", *plant.op("alice"), input="status\nestop\n")
    assert out.returncode == ExitCode.NOT_AUTHORIZED and received == []


def test_connection_failure_is_reported(plant):
    out = wsctl(
        "--json", "run", "wss://127.0.0.1:1/", "-", "--profile", "conveyor", *plant.op("alice"), input="status\n"
    )
    assert out.returncode == ExitCode.CONNECT
    assert json.loads(out.stdout)["error"] == "connect"


@pytest.mark.parametrize(
    "text, fragment", [("", "no commands"), ("sleep x", "sleep SECONDS"), ("status 'open", "No closing quotation")]
)
def test_script_syntax_errors(text, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        parse_script(text, "s.txt")


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "1e400", "86401", "-1"])
def test_a_sleep_that_is_not_a_sane_number_of_seconds_is_refused_with_its_line(plant, jsonrpc_device, seconds):
    url, received = jsonrpc_device
    out = wsctl(
        "--json",
        "run",
        url,
        "-",
        "--profile",
        "conveyor",
        *plant.op("alice"),
        input=f"status\nsleep {seconds}\n",
        timeout=20,
    )
    assert out.returncode == ExitCode.INVALID, out.stderr
    error = json.loads(out.stderr.splitlines()[-1])
    assert error["error"] == "invalid" and error["message"].startswith("<stdin>:2: expected `sleep SECONDS`")
    assert received == []
