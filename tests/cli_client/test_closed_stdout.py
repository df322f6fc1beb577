"""A reader that went away (stdout closed: `wsctl --json watch ... | head -1`):
exit 1, and under --json the command still ends with its error line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from client_helpers import PASSWORD

OUTPUT_CLOSED = {"error": "error", "message": "output closed", "exit_code": 1, "cause": "os"}


def closed_stdout(*args: str) -> subprocess.CompletedProcess:
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "wsctl", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
            env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
        )
    finally:
        os.close(write)


def test_json_watch_into_a_closed_pipe_ends_with_the_error_line(plant, echo_server):
    out = closed_stdout(
        "--json", "watch", echo_server.url, *plant.op("bob"), "--send", "a", "--send", "b", "--count", "2"
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert json.loads(out.stderr.splitlines()[-1]) == OUTPUT_CLOSED


@pytest.mark.parametrize("args", [["--json", "exit-codes"], ["exit-codes", "--json"]])
def test_a_json_one_shot_verb_into_a_closed_pipe_says_so(args):
    out = closed_stdout(*args)
    assert out.returncode == 1
    assert [json.loads(line) for line in out.stderr.splitlines()] == [OUTPUT_CLOSED]


def test_human_output_into_a_closed_pipe_stays_quiet_as_other_tools_do():
    out = closed_stdout("exit-codes")
    assert out.returncode == 1 and out.stderr == ""
