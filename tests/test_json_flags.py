"""`--json`, `-v` and `-q` after the verb, and usage errors as JSON (issue 9, item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _wsctl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "WSCTL_PASSWORD": "a test passphrase"},
    )


@pytest.mark.parametrize(
    "args",
    [
        ("send", "--bogus", "--json"),  # unknown option, --json after it
        ("--json", "send", "--bogus"),  # unknown option, --json before the verb
        ("send", "--json"),  # missing argument
        ("certs", "issue", "device", "--json"),  # nested verb
        ("certs", "--json", "nosuchverb"),  # unknown sub-verb
        ("hub", "devices", "add", "--json"),  # a verb of a sub-group
    ],
)
def test_usage_errors_under_json_are_one_json_line(args):
    out = _wsctl(*args)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    obj = json.loads(lines[0])
    assert obj["error"] == "usage" and obj["exit_code"] == 2 and obj["message"]
    assert out.stdout == ""


def test_json_after_the_verb_gives_the_same_output_as_before_it(tmp_path):
    assert _wsctl("certs", "--dir", str(tmp_path / "certs"), "init", "--name", "T").returncode == 0
    assert (
        _wsctl(
            "certs", "--dir", str(tmp_path / "certs"), "issue", "device", "d1", "--ip", "127.0.0.1", "--no-password"
        ).returncode
        == 0
    )
    before = _wsctl("--json", "certs", "--dir", str(tmp_path / "certs"), "list")
    after = _wsctl("certs", "--dir", str(tmp_path / "certs"), "list", "--json")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and before.stdout.strip()
    for line in after.stdout.splitlines():
        json.loads(line)


def test_quiet_and_verbose_after_the_verb(tmp_path):
    store = str(tmp_path / "certs")
    assert _wsctl("certs", "--dir", store, "init", "--name", "T").returncode == 0
    quiet = _wsctl("certs", "--dir", store, "issue", "device", "d1", "--ip", "127.0.0.1", "--no-password", "-q")
    loud = _wsctl("certs", "--dir", store, "issue", "device", "d2", "--ip", "127.0.0.1", "--no-password", "-v")
    assert quiet.returncode == loud.returncode == 0
    assert len(loud.stderr) >= len(quiet.stderr)


def test_a_raw_message_after_double_dash_is_not_a_flag():
    from wsctl.cli.main import _asks_for_json

    assert _asks_for_json(["send", "x", "--", "--json"]) is False
    assert _asks_for_json(["send", "--json", "x"]) is True
