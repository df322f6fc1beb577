"""Shell completion of names through click's completion protocol (issue 9,
item 12): certificate names, profile names, inventory aliases and groups, a
profile's commands and param= names after a target whose profile is known —
in bash, zsh and fish."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PASSWORD = "a test passphrase"


def _wsctl(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )


@pytest.fixture(scope="module")
def plant_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("complete")
    for step in (
        ["init", "--name", "T"],
        ["issue", "device", "belt-1", "--ip", "127.0.0.1", "--no-password"],
        ["issue", "operator", "alice", "--role", "engineer", "--no-password"],
        ["issue", "operator", "albert", "--role", "observer", "--no-password"],
    ):
        assert _wsctl("certs", *step, cwd=base).returncode == 0
    (base / "wsctl-inventory.toml").write_text(
        '[devices.belt-1]\nurl = "wss://127.0.0.1:1/"\nprofile = "conveyor"\n'
        '[devices.psu-3]\nurl = "wss://127.0.0.1:2/"\nprofile = "psu"\n[groups]\nline-1 = ["belt-1", "psu-3"]\n'
    )
    return base


def _complete(shell: str, words: str, cwd) -> list[str]:
    if shell == "fish":  # the command line and the word being completed
        cword = words.split(" ")[-1]
    else:  # the index of the word being completed
        cword = str(len(words.split(" ")) - 1)
    env = {**os.environ, "_WSCTL_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    out = subprocess.run([sys.executable, "-m", "wsctl"], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    if shell == "bash":
        return [line.split(",", 1)[1] for line in out.stdout.splitlines() if line]
    if shell == "zsh":  # type, value, help, in groups of three lines
        lines = out.stdout.splitlines()
        return [lines[i + 1] for i in range(0, len(lines), 3)]
    return [
        line.split(",", 1)[1].split("\t")[0] for line in out.stdout.splitlines() if line
    ]  # fish: type,value[\thelp]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize(
    "words, expected",
    [
        ("wsctl certs show al", ["albert", "alice"]),
        ("wsctl certs --dir certs revoke be", ["belt-1"]),
        ("wsctl send --profile c", ["conveyor"]),
        ("wsctl profile show ps", ["psu"]),
        ("wsctl send ", ["belt-1", "line-1", "psu-3"]),
        ("wsctl watch li", ["line-1"]),
        ("wsctl send belt-1 st", ["start", "stop", "status"]),
        ("wsctl send belt-1 set_speed ", ["speed="]),
        ("wsctl send wss://x/ --profile conveyor set_", ["set_speed"]),
    ],
)
def test_names_complete(plant_dir, shell, words, expected):
    assert _complete(shell, words, plant_dir) == expected


def test_completion_with_a_broken_inventory_offers_nothing_and_does_not_fail(tmp_path):
    (tmp_path / "wsctl-inventory.toml").write_text("devices = 5\n")
    assert _complete("bash", "wsctl send ", tmp_path) == []
