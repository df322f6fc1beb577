"""`wsctl serve --profile` as a process: JSON lines per command, the audit log,
fault flags, the shipped conveyor profile, usage errors."""

from __future__ import annotations

import json
import select
import signal
import ssl
import subprocess
import sys

import pytest
from cli_runner import run_subprocess
from sim_profiles import JSONRPC

from wsctl.core.exit_table import ExitCode


def run(*args, timeout=30):
    # a subprocess: `serve` that wrongly started would run until the timeout, not forever
    return run_subprocess(*args, timeout=timeout)


class Served:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsctl", "--json", "serve", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {self.proc.stderr.read()}")
        self.first = json.loads(line)
        self.url = self.first["url"]

    def stop(self) -> list[dict]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == ExitCode.TERMINATED, err
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def client_ctx(pki, who):
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(who.chain, who.key)
    return ctx


def exchange(url, ctx, *messages, subprotocols=None):
    from websockets.sync.client import connect

    replies = []
    with connect(url, ssl=ctx, subprotocols=subprotocols, open_timeout=10) as ws:
        for message in messages:
            ws.send(message)
            while True:
                doc = json.loads(ws.recv(timeout=10))
                if "id" in doc:
                    replies.append(doc)
                    break
        return replies, ws.subprotocol


@pytest.fixture
def profile_file(tmp_path):
    path = tmp_path / "belt.toml"
    path.write_text(JSONRPC)
    return path


def test_profile_from_a_file_with_json_lines_and_audit_log(sim_pki, profile_file, tmp_path):
    audit = tmp_path / "audit.jsonl"
    served = Served(
        "--profile", str(profile_file), "--certs", str(sim_pki.store.path), "--device", "plc", "--audit-log", str(audit)
    )
    try:
        assert served.first["profile"] == "belt" and served.first["subprotocols"] == ["belt.v1"]
        replies, sub = exchange(
            served.url,
            client_ctx(sim_pki, sim_pki.alice),
            '{"jsonrpc":"2.0","id":1,"method":"belt.start"}',
            '{"jsonrpc":"2.0","id":2,"method":"belt.set_speed","params":{"speed":700}}',
            subprotocols=["belt.v1"],
        )
        assert sub == "belt.v1" and replies[1]["result"]["speed"] == 700
        denied, _ = exchange(
            served.url, client_ctx(sim_pki, sim_pki.bob), '{"jsonrpc":"2.0","id":1,"method":"belt.stop"}'
        )
        assert denied[0]["error"]["code"] == -32001
        garbage, _ = exchange(served.url, client_ctx(sim_pki, sim_pki.bob), "not json")
        assert garbage[0]["error"]["code"] == -32700
    finally:
        lines = served.stop()
    commands = [line for line in lines if line["event"] == "command"]
    assert [(c["identity"]["name"], c["role"], c["command"], c["result"]) for c in commands] == [
        ("alice", "engineer", "start", "ok"),
        ("alice", "engineer", "set_speed", "ok"),
        ("bob", "observer", "stop", "denied"),
        ("bob", "observer", None, "invalid"),
    ]
    assert commands[1]["params"] == {"speed": 700, "ramp": 1.5}
    # the access log still has one line per connection
    assert sum(1 for line in lines if line["event"] == "connection") == 3
    audited = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [a["result"] for a in audited] == ["ok", "ok", "denied", "invalid"]
    assert all(a["identity"]["fingerprint"].startswith("sha256:") for a in audited)


def test_shipped_conveyor_profile_and_error_fault_flag(sim_pki, tmp_path):
    served = Served(
        "--profile",
        "conveyor",
        "--certs",
        str(sim_pki.store.path),
        "--device",
        "plc",
        "--error-reply",
        "1",
        "--seed",
        "3",
    )
    try:
        replies, _ = exchange(
            served.url, client_ctx(sim_pki, sim_pki.alice), '{"jsonrpc":"2.0","id":1,"method":"conveyor.status"}'
        )
    finally:
        served.stop()
    assert replies[0]["error"]["code"] == -32000 and "injected fault" in replies[0]["error"]["message"]


def test_telemetry_scale_flag_makes_telemetry_fast(sim_pki, tmp_path):
    from websockets.sync.client import connect

    # periods of 10 and 50 minutes: without the flag not one message comes within
    # the waits below, with it the first comes after 0.6 s
    profile = tmp_path / "slow-belt.toml"
    profile.write_text(JSONRPC.replace("every = 1.0", "every = 600.0").replace("every = 5.0", "every = 3000.0"))
    served = Served(
        "--profile",
        str(profile),
        "--certs",
        str(sim_pki.store.path),
        "--device",
        "plc",
        "--telemetry-scale",
        "0.001",
    )
    try:
        with connect(served.url, ssl=client_ctx(sim_pki, sim_pki.bob), open_timeout=10) as ws:
            got = [json.loads(ws.recv(timeout=30)) for _ in range(3)]
    finally:
        served.stop()
    assert all(doc["method"] == "belt.telemetry" for doc in got)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--echo", "--profile", "conveyor"], "--echo excludes --profile and --replay"),
        (["--echo", "--audit-log", "x.jsonl"], "--audit-log needs --profile"),
        (["--profile", "conveyor", "--drop-reply", "2"], "0<=x<=1"),
        (["--profile", "conveyor", "--operator", "bob", "--allow-plaintext"], "--operator is no serve option"),
    ],
)
def test_usage_errors(args, fragment):
    out = run("serve", "--listen", "127.0.0.1:0", *args)
    assert out.returncode == ExitCode.USAGE and fragment in out.stderr, out.stderr


def test_unknown_or_broken_profile_is_invalid(tmp_path):
    out = run("serve", "--profile", "no-such-profile", "--allow-plaintext", "--listen", "127.0.0.1:0")
    assert out.returncode == ExitCode.INVALID and "no-such-profile" in out.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text(
        'format = "wsctl-profile/1"\n[profile]\nid = "x"\n[framing]\npreset = "jsonrpc2"\n[commands.a]\nroles = ["wizard"]\n'
    )
    out = run("serve", "--profile", str(broken), "--allow-plaintext", "--listen", "127.0.0.1:0")
    assert out.returncode == ExitCode.INVALID and "commands.a.roles" in out.stderr and "Traceback" not in out.stderr
    assert "warning" not in out.stderr  # the error alone, not a warning about a server that never ran
