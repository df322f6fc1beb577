"""Config files, inventories and recordings overwritten in place: the last
gaps of "files from elsewhere are untrusted" (issue 8, item 8/9)."""

from __future__ import annotations

import os
import subprocess
import sys

from wsctl.net.recorder import Recorder


def _wsctl(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "XDG_CONFIG_HOME": str(cwd / "config")},
    )


def test_config_with_a_huge_integer_is_invalid_input(tmp_path):
    (tmp_path / "wsctl.toml").write_text("[send]\ntimeout = " + "9" * 5000 + "\n")
    out = _wsctl("exit-codes", cwd=tmp_path)
    assert out.returncode == 8, out.stderr
    assert "not valid TOML" in out.stderr and "internal error" not in out.stderr


def test_inventory_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "wsctl-inventory.toml")
    out = _wsctl("send", "belt-1", "--raw", "x", cwd=tmp_path)
    assert out.returncode == 8 and "not a" in out.stderr and "inventory" in out.stderr


def test_recording_overwritten_in_place_becomes_0600(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    with Recorder(path, url="wss://x/"):
        pass
    assert oct(path.stat().st_mode & 0o777) == "0o600"
