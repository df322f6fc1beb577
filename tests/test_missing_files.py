"""A file that is not there is invalid input: exit 8 and a line that says so
(issue 9, item 7), whichever verb was given it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "args, says",
    [
        (("run", "wss://127.0.0.1:1/", "nofile.txt"), "no such script file: nofile.txt"),
        (("profile", "validate", "nothere.toml"), "no such profile file: nothere.toml"),
        (("profile", "show", "nothere.toml"), "no such profile file"),
        (("record", "show", "nofile.jsonl"), "nofile.jsonl: no such recording"),
        (("replay", "nofile.jsonl", "--to", "wss://127.0.0.1:1/"), "nofile.jsonl: no such recording"),
        (("send", "--inventory", "nofile.toml", "x", "hi"), "inventory file not found: nofile.toml"),
        (("send", "wss://127.0.0.1:1/", "--raw", "x", "--ca", "nofile.pem"), "CA file not found: nofile.pem"),
        (("hub", "devices"), "hub.db: no such hub registry"),
        (("hub", "audit", "--registry", "nofile.db"), "nofile.db: no such hub registry"),
        (("hub", "id-tags", "list", "--registry", "nofile.db"), "nofile.db: no such hub registry"),
        (("hub", "devices", "add", "x", "--profile", "p", "--secret-file", "nofile"), "nofile: no such secret file"),
    ],
)
def test_missing_file_exits_8_and_names_it(args, says, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
    )
    assert out.returncode == 8, out.stderr
    assert says in out.stderr
