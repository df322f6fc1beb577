"""The console on a real terminal (a pty) with telemetry running (issue 9,
items 8 and 9): a dangerous command's question is not scrolled away, /mute
and /filter quiet the stream, Ctrl-C drops the typed line instead of leaving,
replies carry a time stamp."""

from __future__ import annotations

import os
import time

import pytest
from client_helpers import PASSWORD, start_server
from pty_helpers import read_for, read_until, run_in_pty, spawn

TELEMETRY = b"conveyor.telemetry"


@pytest.fixture
def chatty_conveyor(plant):
    server = start_server(
        "--profile", "conveyor", "--certs", str(plant.certs), "--device", "dev", "--telemetry-scale", "0.05"
    )
    yield server
    server.proc.kill()
    server.proc.wait(timeout=10)


@pytest.fixture
def console(plant, chatty_conveyor, tmp_path):
    # a pty answers no cursor-position request: without this, prompt_toolkit
    # waits for one before printing what was queued, which reads as a late line
    env = {
        **os.environ,
        "WSCTL_PASSWORD": PASSWORD,
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "160",
        "LINES": "50",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    proc, master = spawn(["connect", chatty_conveyor.url, "--profile", "conveyor", *plant.op("alice")], env)
    read_until(master, b"connected to", 30)
    read_until(master, TELEMETRY, 15)
    yield proc, master
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    os.close(master)


def test_dangerous_question_holds_telemetry_until_answered(console):
    proc, fd = console
    os.write(fd, b"estop\r")
    read_until(fd, b"Type 'yes' to run it:", 15)
    # lines printed just before the question are still on their way through
    # prompt_toolkit's stdout proxy (it writes in batches); let them land
    read_for(fd, 1.0)
    during = read_for(fd, 1.5)  # telemetry arrives at ~20 Hz meanwhile
    assert TELEMETRY not in during, during[-500:]
    os.write(fd, b"no\r")
    after = read_until(fd, b"not confirmed", 15)
    after += read_until(fd, TELEMETRY, 15)  # held lines, then the stream again
    os.write(fd, b"/quit\r")
    assert proc.wait(timeout=15) == 0


def test_mute_and_filter(console):
    proc, fd = console
    os.write(fd, b"/mute\r")
    read_until(fd, b"incoming messages hidden", 15)
    read_for(fd, 1.0)  # lines already on their way
    assert TELEMETRY not in read_for(fd, 1.0)
    os.write(fd, b"/mute\r")
    read_until(fd, TELEMETRY, 15)
    os.write(fd, b"/filter no-such-field\r")
    read_until(fd, b"showing only incoming lines matching", 15)
    read_for(fd, 1.0)
    assert TELEMETRY not in read_for(fd, 1.0)
    os.write(fd, b"/filter\r")
    read_until(fd, TELEMETRY, 15)
    os.write(fd, b"/quit\r")
    assert proc.wait(timeout=15) == 0


def test_ctrl_c_drops_the_line_and_replies_are_timestamped(console):
    proc, fd = console
    os.write(fd, b"status half-typed")
    time.sleep(0.3)
    os.write(fd, b"\x03")
    time.sleep(0.3)
    assert proc.poll() is None, "Ctrl-C must not leave the console"
    os.write(fd, b"status\r")
    seen = read_until(fd, b"status -> ", 15)
    line = seen[seen.rindex(b"status -> ") - 13 : seen.rindex(b"status -> ")]
    assert line[2:3] == b":" and line[5:6] == b":", line  # HH:MM:SS.mmm before the reply
    # Ctrl-D leaves — once the prompt is back (a key pressed while the call
    # runs reaches a terminal prompt_toolkit has not put in raw mode yet)
    tail = seen[seen.rindex(b"status -> ") :]
    if b"/>" not in tail:
        read_until(fd, b"/>", 15)
    time.sleep(0.3)
    os.write(fd, b"\x04")
    assert proc.wait(timeout=15) == 0


def test_a_half_typed_line_survives_a_dropped_connection(plant, tmp_path):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    env = {
        **os.environ,
        "WSCTL_PASSWORD": PASSWORD,
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "160",
        "LINES": "50",
    }
    proc, master = spawn(["connect", server.url, *plant.op("bob")], env)
    try:
        # typed only once the prompt is drawn: before that the terminal is not yet in
        # prompt_toolkit's raw mode, and switching to it discards what was typed; then
        # killed only once prompt_toolkit has drawn the text back, i.e. holds it
        read_until(master, b"connected to", 30)
        read_until(master, b"/>\x1b[0m", 30)  # the prompt, "URL> " (its space is a cursor move)
        os.write(master, b"set-point 42 for belt")
        read_until(master, b"for belt", 30)
        server.proc.kill()
        server.proc.wait(timeout=10)
        read_until(master, b"kept in the history", 20)
        assert proc.wait(timeout=20) == 10
        assert "set-point 42 for belt" in (tmp_path / "wsctl" / "console_history").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def _pty_run(args, timeout=60, signal_after=None):
    env = {**os.environ, "WSCTL_PASSWORD": PASSWORD, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
    return run_in_pty(args, env, timeout=timeout, interrupt_after=signal_after)


def test_watch_plot_draws_live_and_leaves_a_clean_terminal(plant, chatty_conveyor):
    pytest.importorskip("plotext")
    code, seen = _pty_run(
        [
            "watch",
            chatty_conveyor.url,
            "--profile",
            "conveyor",
            *plant.op("alice"),
            "--plot",
            "motor_temp",
            "--plot",
            "speed",
            "--duration",
            "3",
        ]
    )
    assert code == 0, seen[-500:]
    assert seen.count(b"\x1b[?1049h") == 1 and seen.rstrip().endswith(b"\x1b[?25h\x1b[?1049l")
    assert b"motor_temp (\xc2\xb0C)" in seen and b"speed (mm/s)" in seen
    frames = seen.count(b"seconds since the watch started")
    assert 1 <= frames <= 10, (
        frames
    )  # redrawn at a bounded rate (3 s at most every 0.5 s), not once per message (20 Hz)


def test_watch_plot_ctrl_c_restores_the_terminal(plant, chatty_conveyor):
    pytest.importorskip("plotext")
    code, seen = _pty_run(
        ["watch", chatty_conveyor.url, "--profile", "conveyor", *plant.op("alice"), "--plot", "motor_temp"],
        signal_after=4,
    )
    assert code == 130
    assert seen.rstrip().endswith(b"\x1b[?25h\x1b[?1049l") and b"Traceback" not in seen


def test_watch_plot_needs_a_terminal(plant, chatty_conveyor):
    from client_helpers import wsctl

    out = wsctl(
        "watch",
        chatty_conveyor.url,
        "--profile",
        "conveyor",
        *plant.op("alice"),
        "--plot",
        "motor_temp",
        "--count",
        "1",
    )
    assert out.returncode == 2 and "terminal" in out.stderr
