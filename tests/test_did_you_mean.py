"""Typos get a suggestion (issue 9, items 10 and 11): verbs, sub-verbs, profile
commands, profiles, operators, devices, inventory aliases; and --operator and
serve --device find the default store (./certs) as `wsctl certs` does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from wsctl.core.suggest import closest, did_you_mean

PASSWORD = "a test passphrase"


def _wsctl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD, "XDG_CONFIG_HOME": str(cwd or ".") + "/.config"},
    )


def test_closest_only_suggests_near_names():
    assert closest("sned", ["send", "serve", "watch"]) == "send"
    assert closest("xyzzy", ["send", "serve"]) is None
    assert did_you_mean("send", ["send"]) == ""


@pytest.fixture(scope="module")
def plant_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("typos")
    for step in (
        ["init", "--name", "T"],
        ["issue", "device", "belt-1", "--ip", "127.0.0.1", "--no-password"],
        ["issue", "operator", "alice", "--role", "engineer", "--no-password"],
    ):
        assert _wsctl("certs", *step, cwd=base).returncode == 0
    (base / "wsctl-inventory.toml").write_text('[devices.belt-1]\nurl = "wss://127.0.0.1:1/"\n')
    return base


@pytest.mark.parametrize(
    "args, suggestion",
    [
        (("sned", "x"), "Did you mean 'send'?"),
        (("certs", "isue"), "Did you mean 'issue'?"),
        (("send", "wss://127.0.0.1:1/", "stauts", "--profile", "conveyor"), "did you mean 'status'?"),
        (("profile", "show", "conveyer"), "did you mean 'conveyor'?"),
        (("send", "wss://127.0.0.1:1/", "--raw", "x", "--operator", "alcie"), "did you mean 'alice'?"),
        (("serve", "--echo", "--device", "belt-2"), "did you mean 'belt-1'?"),
        (("send", "belt-2", "--raw", "x"), "did you mean 'belt-1'?"),
    ],
)
def test_typos_get_a_suggestion(plant_dir, args, suggestion):
    out = _wsctl(*args, cwd=plant_dir)
    assert out.returncode in (2, 8), out.stderr
    assert suggestion in out.stderr, out.stderr


def test_operator_without_certs_uses_the_default_store(plant_dir):
    """./certs is used: the error is about the device (nothing listens), not a missing certificate."""
    out = _wsctl("send", "wss://127.0.0.1:1/", "--raw", "x", "--operator", "alice", cwd=plant_dir)
    assert out.returncode == 3, out.stderr


def test_operator_without_any_store_says_so(tmp_path):
    out = _wsctl("send", "wss://127.0.0.1:1/", "--raw", "x", "--operator", "alice", cwd=tmp_path)
    assert out.returncode == 2 and "no PKI store" in out.stderr


def test_serve_device_without_certs_uses_the_default_store(plant_dir, tmp_path):
    shutil.copytree(plant_dir / "certs", tmp_path / "certs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "serve", "--echo", "--device", "belt-1", "--listen", "127.0.0.1:0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    try:
        line = proc.stdout.readline()
        assert '"event": "listening"' in line, proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "verb, has_parallel",
    [("send", True), ("run", True), ("test", True), ("replay", True), ("watch", False), ("connect", False)],
)
def test_parallel_only_where_it_means_something(verb, has_parallel, tmp_path):
    out = _wsctl(verb, "--help", cwd=tmp_path)
    assert ("--parallel" in out.stdout) is has_parallel


def test_a_device_wanting_a_client_certificate_gets_the_operators_named(plant_dir, tmp_path):
    """`wsctl serve` (client certificates required) and a client that gave none:
    the hint names the operators of ./certs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "serve", "--echo", "--device", "belt-1", "--listen", "127.0.0.1:0"],
        cwd=plant_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    try:
        import json

        url = json.loads(proc.stdout.readline())["url"]
        out = _wsctl("send", url, "--raw", "x", "--ca", str(plant_dir / "certs" / "ca" / "root.crt"), cwd=plant_dir)
        assert out.returncode == 4, out.stderr
        assert "requires" in out.stderr and "operators in certs: alice" in out.stderr, out.stderr
    finally:
        proc.kill()
        proc.wait(timeout=10)
