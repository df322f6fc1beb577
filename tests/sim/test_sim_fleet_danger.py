"""`wsctl send` to a fleet whose devices have different profiles: each device's
own profile says whether the command is dangerous, whatever the order of the
targets (review finding 1: only the first device's profile was asked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_in_process
from test_sim_cli import Served

import wsctl
from wsctl.core.exit_table import ExitCode

PSU = (Path(wsctl.__file__).parent / "profiles" / "psu.toml").read_text()


@pytest.fixture
def bench(sim_pki, tmp_path):
    """(inventory, environ, served): bench-a with a psu profile where nothing is
    dangerous, bench-b with the shipped psu; both reach one psu simulator."""
    lax = tmp_path / "psu-lax.toml"
    lax.write_text(PSU.replace('id = "psu"', 'id = "psu-lax"').replace("dangerous = true", "dangerous = false"))
    served = Served("--profile", "psu", "--certs", str(sim_pki.store.path), "--device", "plc")
    url = served.url.rstrip("/") + "/scpi"
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        f'[defaults]\ncerts = "{sim_pki.store.path}"\noperator = "alice"\n'
        f'[devices.bench-a]\nurl = "{url}"\nprofile = "{lax}"\n'
        f'[devices.bench-b]\nurl = "{url}"\nprofile = "psu"\n'
    )
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    yield inventory, environ, served
    if served.proc.poll() is None:
        served.stop()


@pytest.mark.parametrize("targets", ["bench-a,bench-b", "bench-b,bench-a", "bench-b"])
def test_a_fleet_is_refused_when_any_devices_profile_marks_the_command_dangerous(bench, targets):
    inventory, environ, served = bench
    out = run_in_process("send", targets, "output", "state=ON", "--inventory", str(inventory), environ=environ)
    assert out.returncode == ExitCode.NOT_AUTHORIZED, out.stdout + out.stderr
    assert "dangerous" in out.stderr and "nothing was sent" in out.stderr
    assert "Switch the power supply output?" in out.stderr  # bench-b's confirm text
    commands = [line for line in served.stop() if line["event"] == "command"]
    assert commands == []


def test_the_harmless_device_alone_and_the_fleet_with_yes_run(bench):
    inventory, environ, served = bench
    alone = run_in_process("send", "bench-a", "output", "state=ON", "--inventory", str(inventory), environ=environ)
    fleet = run_in_process(
        "send", "bench-a,bench-b", "output", "state=OFF", "--yes", "--inventory", str(inventory), environ=environ
    )
    assert alone.returncode == 0, alone.stderr
    assert fleet.returncode == 0, fleet.stderr
    commands = [line for line in served.stop() if line["event"] == "command"]
    assert [(c["command"], c["params"], c["result"]) for c in commands] == [
        ("output", {"state": "ON"}, "ok"),
        ("output", {"state": "OFF"}, "ok"),
        ("output", {"state": "OFF"}, "ok"),
    ]
