"""Ctrl-C (SIGINT) at any point of a command: exit 130, under --json the error
object as the last stderr line and nothing but JSON lines, never a traceback.

The signal is real (`os.kill` of the process itself), sent at a chosen moment:
while a module loads (start-up, a verb's import) or while a synchronous verb
waits on its input.  Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wsctl.core.exit_table import ExitCode

INTERRUPTED = {"error": "interrupted", "message": "interrupted", "exit_code": 130}

# runs `python -m wsctl ARGS` and sends itself SIGINT when MODULE is first imported
_TRIP = """
import os, runpy, signal, sys
module = sys.argv[1]
sys.argv = ["wsctl", *sys.argv[2:]]
class Trip:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Trip())
runpy.run_module("wsctl", run_name="__main__", alter_sys=True)
"""


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    "module, args",
    [
        ("click", ["--json", "send", "wss://127.0.0.1:1/", "--raw", "x"]),  # the CLI's own imports
        ("wsctl.cli.support.logs", ["--json", "send", "wss://127.0.0.1:1/", "--raw", "x"]),  # before the config
        ("wsctl.cli.send", ["--json", "send", "wss://127.0.0.1:1/", "--raw", "x"]),  # the verb's import
        ("wsctl.cli.exit_codes", ["exit-codes", "--json"]),  # a synchronous verb, --json after it
    ],
)
def test_ctrl_c_while_starting_is_the_json_error_object(tmp_path, module, args):
    out = subprocess.run(
        [sys.executable, "-c", _TRIP, module, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == ExitCode.INTERRUPTED, out.stderr
    assert _json_lines(out.stderr)[-1] == INTERRUPTED and out.stdout == ""


def _wait_reading_stdin(proc: subprocess.Popen, timeout: float = 20) -> None:
    wchan = Path(f"/proc/{proc.pid}/wchan")
    if not wchan.exists():
        pytest.skip("needs /proc/PID/wchan to see the process wait on its input")
    deadline = time.monotonic() + timeout
    while "pipe_read" not in wchan.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, "wsctl never waited on its input"
        time.sleep(0.02)


@pytest.mark.parametrize("as_json", [True, False])
def test_ctrl_c_in_a_synchronous_verb(tmp_path, as_json):
    # `run SCRIPT -` reads the whole script before anything connects: a synchronous wait
    args = ["--json"] * as_json + ["run", "wss://127.0.0.1:1/", "-", "--profile", "conveyor"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        _wait_reading_stdin(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitCode.INTERRUPTED and "Traceback" not in err, err
    assert out == ""
    if as_json:
        assert _json_lines(err) == [INTERRUPTED]
    else:
        assert err.strip() == ""
