"""Bytes on stdin that are not UTF-8 (a binary file piped by mistake) are
invalid input, exit 8, with the first bad byte named — not an internal error
when the message is encoded to be sent (`send --raw -`, `run -`, piped `connect`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from client_helpers import PASSWORD

BAD = b"\xff\xfehello\n"


def wsctl_bytes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsctl", "--json", *args],
        input=BAD,
        capture_output=True,
        timeout=60,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )


@pytest.mark.parametrize(
    "verb",
    [
        ("send", "{url}", "--raw", "-"),
        ("run", "{url}", "-", "--profile", "conveyor"),
        ("connect", "{url}"),
    ],
    ids=["send", "run", "connect"],
)
def test_stdin_that_is_not_utf8_is_invalid_input(plant, echo_server, verb):
    args = [a.format(url=echo_server.url) for a in verb]
    done = wsctl_bytes(*args, *plant.op("alice"))
    assert done.returncode == 8, done.stderr
    error = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert "is not UTF-8 text (byte 0xff" in error["message"] and "internal" not in json.dumps(error)
