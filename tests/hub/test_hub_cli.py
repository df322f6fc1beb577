"""The hub as a user runs it: `wsctl hub` in its own process, a simulated
charger from `wsctl serve --dial` in another, operators' `wsctl send` in a
third — exit codes and JSON as scripts see them."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from cli_runner import run_subprocess
from hub_helpers import Process

from wsctl.core.exit_table import ExitCode


@pytest.fixture
def hub_process(hub_pki, tmp_path):
    registry = str(tmp_path / "hub.db")
    store = str(hub_pki.store.path)
    for name, extra in (("CP-1", ()), ("CP-2", ("--group", "east"))):
        added = run_subprocess("hub", "devices", "add", name, "--profile", "ocpp16", "--registry", registry, *extra)
        assert added.returncode == 0, added.stderr
    hub = Process(
        "--json", "hub", "--listen", "127.0.0.1:0", "--certs", store, "--device", "hub", "--registry", registry
    )
    port = hub.first["url"].rsplit(":", 1)[1].split("/")[0]
    yield {"registry": registry, "store": store, "port": port, "hub": hub}
    out, err = hub.stop()
    assert hub.proc.returncode == ExitCode.TERMINATED, err


def wait_online(registry: str, name: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = run_subprocess("--json", "hub", "devices", "--registry", registry)
        rows = {json.loads(line)["id"]: json.loads(line) for line in listed.stdout.splitlines() if line.strip()}
        if rows.get(name, {}).get("online"):
            return rows[name]
        time.sleep(0.2)
    raise AssertionError(f"{name} never came online: {rows}")


def send(ctx: dict, device: str, *args: str, operator: str = "alice") -> subprocess.CompletedProcess:
    url = f"wss://localhost:{ctx['port']}/devices/{device}"
    return run_subprocess(
        "--json", "send", url, *args, "--profile", "ocpp16", "--certs", ctx["store"], "--operator", operator, "--yes"
    )


def test_operator_commands_a_dialing_charger_through_the_hub(hub_process):
    ctx = hub_process
    charger = Process(
        "serve",
        "--profile",
        "ocpp16-charger",
        "--dial",
        f"wss://localhost:{ctx['port']}/ocpp/CP-1",
        "--certs",
        ctx["store"],
        "--device",
        "CP-1",
        "--redial",
        "0.5",
        first_line=False,
    )
    try:
        row = wait_online(ctx["registry"], "CP-1")
        assert row["security_profile"] == 3 and row["profile"] == "ocpp16"
        done = send(ctx, "CP-1", "reset", "type=Soft")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["reply"] == {"status": "Accepted"}
        # an observer may read but not reset: the hub refuses with the role, exit 9
        denied = send(ctx, "CP-1", "reset", "type=Soft", operator="bob")
        assert denied.returncode == ExitCode.NOT_AUTHORIZED, (denied.stdout, denied.stderr)
        assert "observer may not run reset" in denied.stdout + denied.stderr
        # a registered charger that is not connected: exit 3, since when
        offline = send(ctx, "CP-2", "reset", "type=Soft")
        assert offline.returncode == ExitCode.CONNECT, (offline.stdout, offline.stderr)
        assert "CP-2 offline" in offline.stdout + offline.stderr
        audit = run_subprocess("--json", "hub", "audit", "--registry", ctx["registry"], "--device", "CP-1")
        actions = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
        assert any(a["actor"] == "alice" and a["action"] == "reset" and a["outcome"] == "ok" for a in actions), actions
    finally:
        charger.stop()


def test_every_client_verb_works_through_the_hub(hub_process, tmp_path):
    ctx = hub_process
    url = f"wss://localhost:{ctx['port']}/devices/CP-1"
    tls = ("--profile", "ocpp16", "--certs", ctx["store"], "--operator", "alice")
    charger = Process(
        "serve", "--profile", "ocpp16-charger", "--dial", f"wss://localhost:{ctx['port']}/ocpp/CP-1",
        "--certs", ctx["store"], "--device", "CP-1", first_line=False,
    )  # fmt: skip
    try:
        wait_online(ctx["registry"], "CP-1")
        # connect: the console, fed by a pipe
        console = run_subprocess(
            "connect",
            url,
            *tls,
            input="get_configuration key='[\"HeartbeatInterval\"]'\ntrigger_message requested_message=Heartbeat\n",
        )
        assert console.returncode == 0, (console.stdout, console.stderr)
        assert "HeartbeatInterval" in console.stdout
        # run: a script of commands
        script = run_subprocess("--json", "run", url, "-", *tls, input="trigger_message requested_message=Heartbeat\n")
        assert script.returncode == 0, script.stderr
        # watch: the device's own messages, while another operator triggers one
        watcher = Process("--json", "watch", url, *tls, "--count", "1", "--duration", "20", first_line=False)
        # triggered until the watcher (whose upgrade may still be on its way) has seen one
        for _ in range(40):
            trigger = send(ctx, "CP-1", "trigger_message", "requested_message=StatusNotification")
            assert trigger.returncode == 0, trigger.stderr
            if watcher.proc.poll() is not None:
                break
            time.sleep(0.25)
        out, err = watcher.proc.communicate(timeout=30)
        assert watcher.proc.returncode == 0, err
        assert "StatusNotification" in out
        # record, then replay what was recorded against the same device through the hub
        rec = tmp_path / "hub-session.jsonl"
        frame = json.dumps([2, "r1", "GetConfiguration", {"key": ["MeterValueSampleInterval"]}])
        recorded = run_subprocess("record", url, "-o", str(rec), "--send", frame, "--count", "1", *tls)
        assert recorded.returncode == 0, recorded.stderr
        replayed = run_subprocess("replay", str(rec), "--to", url, "--replies-only", "--ignore", "/1", *tls[2:])
        assert replayed.returncode == 0, (replayed.stdout, replayed.stderr)
    finally:
        charger.stop()


def test_a_simulated_charger_on_security_profile_2_through_the_cli(hub_process, tmp_path):
    ctx = hub_process
    added = run_subprocess(
        "--json", "hub", "devices", "add", "CP-3", "--profile", "ocpp16", "--security-profile", "2",
        "--registry", ctx["registry"],
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["secret"]
    secret_file = tmp_path / "cp-3.secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    charger = Process(
        "serve", "--profile", "ocpp16-charger", "--dial", f"wss://localhost:{ctx['port']}/ocpp/CP-3",
        "--security-profile", "2", "--certs", ctx["store"], "--basic-auth-password-file", str(secret_file),
        first_line=False,
    )  # fmt: skip
    try:
        row = wait_online(ctx["registry"], "CP-3")
        assert row["connected_security_profile"] == 2
        done = send(ctx, "CP-3", "trigger_message", "requested_message=StatusNotification")
        assert done.returncode == 0, done.stderr
    finally:
        out, err = charger.stop()
    # the secret is never printed by the charger nor by the hub's listing
    listed = run_subprocess("--json", "hub", "devices", "--registry", ctx["registry"])
    assert secret not in out + err + listed.stdout + listed.stderr
