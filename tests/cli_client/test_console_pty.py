"""The console on a real terminal (a pty) with telemetry running (issue 9,
items 8 and 9): a dangerous command's question is not scrolled away, /mute
and /filter quiet the stream, Ctrl-C drops the typed line instead of leaving,
replies carry a time stamp."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest
from client_helpers import PASSWORD, start_server

TELEMETRY = b"conveyor.telemetry"


def _read_for(fd: int, seconds: float) -> bytes:
    seen, deadline = b"", time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen; got {seen[-800:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


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
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "WSCTL_PASSWORD": PASSWORD,
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "160",
        "LINES": "50",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "connect", chatty_conveyor.url, "--profile", "conveyor", *plant.op("alice")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    _read_until(master, b"connected to", 30)
    _read_until(master, TELEMETRY, 15)
    yield proc, master
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    os.close(master)


def test_dangerous_question_holds_telemetry_until_answered(console):
    proc, fd = console
    os.write(fd, b"estop\r")
    _read_until(fd, b"Type 'yes' to run it:", 15)
    during = _read_for(fd, 1.5)  # telemetry arrives at ~20 Hz meanwhile
    assert TELEMETRY not in during, during[-500:]
    os.write(fd, b"no\r")
    after = _read_until(fd, b"not confirmed", 15)
    after += _read_until(fd, TELEMETRY, 15)  # held lines, then the stream again
    os.write(fd, b"/quit\r")
    assert proc.wait(timeout=15) == 0


def test_mute_and_filter(console):
    proc, fd = console
    os.write(fd, b"/mute\r")
    _read_until(fd, b"incoming messages hidden", 15)
    _read_for(fd, 0.3)  # lines already on their way
    assert TELEMETRY not in _read_for(fd, 1.0)
    os.write(fd, b"/mute\r")
    _read_until(fd, TELEMETRY, 15)
    os.write(fd, b"/filter no-such-field\r")
    _read_until(fd, b"showing only incoming lines matching", 15)
    _read_for(fd, 0.3)
    assert TELEMETRY not in _read_for(fd, 1.0)
    os.write(fd, b"/filter\r")
    _read_until(fd, TELEMETRY, 15)
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
    seen = _read_until(fd, b"status -> ", 15)
    line = seen[seen.rindex(b"status -> ") - 13 : seen.rindex(b"status -> ")]
    assert line[2:3] == b":" and line[5:6] == b":", line  # HH:MM:SS.mmm before the reply
    os.write(fd, b"\x04")  # Ctrl-D leaves
    assert proc.wait(timeout=15) == 0


def test_a_half_typed_line_survives_a_dropped_connection(plant, tmp_path):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "WSCTL_PASSWORD": PASSWORD,
        "TERM": "xterm",
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "160",
        "LINES": "50",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "connect", server.url, *plant.op("bob")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        _read_until(master, b"connected to", 30)
        os.write(master, b"set-point 42 for belt")
        time.sleep(0.5)
        server.proc.kill()
        server.proc.wait(timeout=10)
        _read_until(master, b"kept in the history", 20)
        assert proc.wait(timeout=20) == 10
        assert "set-point 42 for belt" in (tmp_path / "wsctl" / "console_history").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
