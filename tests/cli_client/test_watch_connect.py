"""`wsctl watch` and `wsctl connect` against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from client_helpers import PASSWORD, start_server, wsctl
from pty_helpers import read_until, spawn

from wsctl.cli.connect.console import ConsoleLine
from wsctl.core.errors import InvalidInput
from wsctl.core.exit_table import ExitCode


def test_watch_count_prints_json_lines_when_piped(plant, echo_server):
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--send", "a", "--send", "b", "--count", "2")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["data"] for r in records] == ["a", "b"]
    assert all(set(r) == {"time", "device", "direction", "type", "data"} for r in records)


def test_watch_match_filters(plant, echo_server):
    out = wsctl(
        "watch",
        echo_server.url,
        *plant.op("bob"),
        "--send",
        "noise",
        "--send",
        "temp=41",
        "--match",
        "^temp",
        "--count",
        "1",
    )
    assert [json.loads(line)["data"] for line in out.stdout.splitlines()] == ["temp=41"]


def test_watch_duration_ends_with_success(plant, echo_server):
    # a watch that did not end by itself would run into the runner's bound (TimeoutExpired)
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--duration", "0.5")
    assert out.returncode == 0, out.stderr


def test_watch_bad_regex_is_a_usage_error(plant):
    out = wsctl("watch", "wss://127.0.0.1:1/", *plant.op("bob"), "--match", "(")
    assert out.returncode == ExitCode.USAGE


def test_watch_reconnect_marks_gaps_and_gives_up(plant):
    out = wsctl(
        "watch", "wss://127.0.0.1:1/", *plant.op("bob"), "--reconnect", "--max-retries", "2", "--backoff-max", "0.2"
    )
    gaps = [json.loads(line) for line in out.stdout.splitlines()]
    assert [g["event"] for g in gaps] == ["gap", "gap"]
    assert all(g["retry_in"] <= 0.2 for g in gaps)
    assert out.returncode == ExitCode.CONNECT and "gave up after 2" in out.stderr


def test_watch_reconnects_to_a_restarted_device(plant, tmp_path):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    port = server.url.rsplit(":", 1)[1].strip("/")
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wsctl",
            "watch",
            server.url,
            *plant.op("bob"),
            "--reconnect",
            "--backoff-max",
            "0.3",
            "--send",
            "hello",
            "--count",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    try:
        first = json.loads(watcher.stdout.readline())
        assert first["data"] == "hello"
        server.lines()  # SIGTERM: peers get 1001
        second = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--listen", f"127.0.0.1:{port}")
        try:
            out, err = watcher.communicate(timeout=30)
        finally:
            second.lines()
        events = [json.loads(line) for line in out.splitlines()]
        assert [e.get("event") for e in events][:1] == ["gap"]
        assert "1001" in events[0]["reason"]
        assert events[-1]["data"] == "hello" and watcher.returncode == 0
        assert any(e.get("event") == "reconnected" for e in events)
    finally:
        if watcher.poll() is None:
            watcher.kill()


def test_watch_without_reconnect_exits_10_when_the_device_goes_away(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "watch", server.url, *plant.op("bob"), "--send", "x", "--count", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    assert json.loads(watcher.stdout.readline())["data"] == "x"
    server.lines()
    _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == ExitCode.CLOSED
    assert "1001" in err


def test_connect_with_piped_stdin_sends_lines_and_console_commands(plant, echo_server):
    script = "hello\n/ping\n/binary AAEC\n//slash\n/bogus\n"
    out = wsctl("connect", echo_server.url, *plant.op("bob"), "--linger", "3", input=script)
    assert out.returncode == ExitCode.INVALID, out.stderr  # /bogus, the last line, failed
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    data = [line.get("data") for line in lines if "data" in line]
    assert data == ["hello", "AAEC", "/slash"]
    assert any(line.get("event") == "pong" for line in lines)
    [failed] = [line for line in lines if line.get("event") == "line"]
    assert failed["line"] == 5 and failed["exit_code"] == ExitCode.INVALID
    assert "unknown console command /bogus" in failed["message"]


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_a_piped_line_that_fails_is_an_error_object_also_under_quiet(plant, jsonrpc_device, quiet):
    url, _ = jsonrpc_device
    args = ["--json", *quiet, "connect", url, "--profile", "conveyor", *plant.op("alice"), "--linger", "0.2"]
    for script, number, fragment in (
        ("/nosuch\n", 1, "unknown console command /nosuch"),
        ("status\nnosuch\n", 2, "no command 'nosuch'"),
    ):
        out = wsctl(*args, input=script)
        assert out.returncode == ExitCode.INVALID, out.stderr
        [failed] = [r for r in map(json.loads, out.stdout.splitlines()) if r.get("event") == "line"]
        assert {k: failed[k] for k in ("event", "line", "ok", "error", "exit_code")} == {
            "event": "line",
            "line": number,
            "ok": False,
            "error": "invalid",
            "exit_code": 8,
        }
        assert fragment in failed["message"]
        assert all(json.loads(line) for line in out.stderr.splitlines())


def test_connect_refuses_a_fleet(plant):
    out = wsctl("connect", "wss://127.0.0.1:1/,wss://127.0.0.2:1/", *plant.op("bob"))
    assert out.returncode == ExitCode.USAGE


@pytest.mark.parametrize(
    "line, kind, payload",
    [
        ("hello", "send", "hello"),
        ("//x", "send", "/x"),
        ("/binary AAEC", "send", b"\x00\x01\x02"),
        ("/quit", "close", None),
        ("/ping", "ping", None),
    ],
)
def test_console_line_parsing(line, kind, payload):
    cmd = ConsoleLine.parse(line)
    assert (cmd.kind, cmd.payload) == (kind, payload)


@pytest.mark.parametrize("line", ["/binary !!", "/close 1005", "/nope"])
def test_console_line_errors(line):
    with pytest.raises(InvalidInput):
        ConsoleLine.parse(line)


def test_connect_on_a_terminal_shows_incoming_messages_and_quits(plant, echo_server, tmp_path):
    env = {
        **os.environ,
        "WSCTL_PASSWORD": PASSWORD,
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "120",
        "LINES": "40",
    }
    proc, master = spawn(["connect", echo_server.url, *plant.op("bob")], env)
    try:
        read_until(master, b"connected to", 30)
        os.write(master, b"typed-by-hand\r")
        read_until(master, b"< typed-by-hand", 15)
        os.write(master, b"/quit\r")
        assert proc.wait(timeout=15) == 0
        history_file = tmp_path / "wsctl" / "console_history"
        assert "typed-by-hand" in history_file.read_text()
        assert oct(history_file.stat().st_mode & 0o777) == "0o600"
        assert oct(history_file.parent.stat().st_mode & 0o777) == "0o700"
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_watch_decodes_by_profile(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    ask = '{"jsonrpc":"2.0","id":1,"method":"conveyor.status"}'
    out = wsctl("watch", url, "--profile", "conveyor", *plant.op("alice"), "--send", ask, "--count", "3")
    assert out.returncode == 0, out.stderr
    telemetry, stray, reply = [json.loads(line) for line in out.stdout.splitlines()]
    assert (
        telemetry["event"] == "conveyor.telemetry"
        and telemetry["kind"] == "telemetry"
        and telemetry["payload"] == {"speed": 5}
    )
    assert telemetry["data"] == '{"jsonrpc": "2.0", "method": "conveyor.telemetry", "params": {"speed": 5}}'
    assert stray["kind"] == "unrecognised" and "matches no pending request" in stray["reason"]
    assert "fields_text" not in telemetry


def test_connect_with_a_profile_runs_checked_commands_and_raw_lines(plant, jsonrpc_device):
    url, received = jsonrpc_device
    script = 'status\nset_speed speed=9999\n/help set_speed\nestop\nset_sped speed=1\n/raw {"jsonrpc":"2.0","id":77,"method":"x"}\n'
    out = wsctl(
        "connect", url, "--profile", "conveyor", *plant.op("alice"), "--linger", "0.5", "--keep-going", input=script
    )
    assert out.returncode == ExitCode.INVALID, out.stderr  # the first failure's code: set_speed out of range
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    calls = [line for line in lines if line.get("event") == "call"]
    assert calls[0]["command"] == "status" and calls[0]["ok"] and calls[0]["reply"]["method"] == "conveyor.status"
    assert (
        calls[1]["ok"] is False and calls[1]["exit_code"] == ExitCode.INVALID and "maximum 3000" in calls[1]["message"]
    )
    assert calls[2]["ok"] is False and calls[2]["exit_code"] == ExitCode.NOT_AUTHORIZED
    assert any(line.get("kind") == "telemetry" for line in lines)
    assert "usage: set_speed speed=<integer 0..3000 mm/s>" in out.stderr
    typo = next(line for line in lines if line.get("event") == "line")  # a typo never reaches the device
    assert typo["line"] == 5 and typo["exit_code"] == ExitCode.INVALID and "no command 'set_sped'" in typo["message"]
    assert [m.get("method") for m in received] == ["conveyor.status", "x"]


def test_completion_offers_commands_params_and_enum_values():
    from wsctl.cli.support.complete import completions
    from wsctl.files.profiles import load_profile

    conveyor = load_profile("conveyor")
    assert "set_speed" in completions(conveyor, "se") and "status" in completions(conveyor, "st")
    assert completions(conveyor, "set_speed ") == ["speed="]
    assert completions(conveyor, "set_speed speed=1 ") == []
    charger = load_profile("ocpp16-charger")
    reset = next(k for k, c in charger.commands.items() if c.name == "Reset")
    param = charger.commands[reset].params[0].name
    assert completions(charger, f"{reset} {param}=H") == [f"{param}=Hard"]
    assert completions(None, "/q") == ["/quit"]


def test_piped_connect_stops_at_the_first_failure_with_its_exit_code(plant, jsonrpc_device):
    url, received = jsonrpc_device
    before = len(received)
    out = wsctl("connect", url, "--profile", "conveyor", *plant.op("alice"), "--linger", "0.2", input="estop\nstatus\n")
    assert out.returncode == ExitCode.NOT_AUTHORIZED, out.stderr
    assert [m.get("method") for m in received[before:]] == []  # estop not sent, status never reached


def test_piped_connect_unknown_command_exits_8(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("connect", url, "--profile", "conveyor", *plant.op("alice"), "--linger", "0.2", input="stauts\n")
    assert out.returncode == ExitCode.INVALID, out.stderr


def test_piped_connect_without_failures_exits_0(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("connect", url, "--profile", "conveyor", *plant.op("alice"), "--linger", "0.2", input="status\n")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("verb", [["watch"], ["record", "capture"]])
@pytest.mark.parametrize("flag", [["--max-retries", "3"], ["--backoff-max", "5"]])
def test_a_reconnect_setting_without_reconnect_is_a_usage_error(plant, echo_server, tmp_path, verb, flag):
    output = ["-o", str(tmp_path / "r.jsonl")] if verb == ["record", "capture"] else []
    out = wsctl("--json", *verb, echo_server.url, *plant.op("bob"), *output, "--count", "1", *flag)
    assert out.returncode == ExitCode.USAGE, out.stderr
    assert f"{flag[0]} needs --reconnect" in json.loads(out.stderr)["message"]
    assert out.stdout == "" and not (tmp_path / "r.jsonl").exists()
