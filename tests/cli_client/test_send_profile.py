"""`wsctl send TARGET COMMAND name=value` with the shipped conveyor profile,
against a JSON-RPC device written with python-websockets (an independent peer):
checks before sending, correlation by id, telemetry in between, exit codes."""

from __future__ import annotations

import json

import pytest
from client_helpers import wsctl

from wsctl.core.exit_table import ExitCode


def test_command_is_framed_matched_and_decoded(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("--json", "send", url, "set_speed", "speed=1200", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] and result["command"] == "set_speed"
    assert result["reply"] == {"method": "conveyor.set_speed", "params": {"speed": 1200}, "subprotocol": "conveyor.v1"}
    assert received[0]["jsonrpc"] == "2.0" and received[0]["method"] == "conveyor.set_speed"


def test_profile_path_is_used_when_the_url_has_none(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("send", url, "status", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == 0 and '"conveyor.status"' in out.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["set_speed", "speed=4000"], "above the maximum 3000 mm/s"),
        (["set_speed", "speed=fast"], "not a valid integer"),
        (["set_speed"], "missing parameter 'speed'"),
        (["set_speed", "speed=1", "ramp=2"], "unknown parameter 'ramp'"),
        (["launch"], "has no command 'launch'"),
        (["set_speed", "speed"], "expected name=value"),
    ],
)
def test_bad_parameters_exit_8_with_usage_and_send_nothing(plant, jsonrpc_device, args, fragment):
    url, received = jsonrpc_device
    out = wsctl("send", url, *args, "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == ExitCode.INVALID
    assert fragment in out.stderr
    assert "hint:" in out.stderr
    assert received == []


def test_usage_hint_shows_range_and_unit(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("send", url, "set_speed", "speed=-1", "--profile", "conveyor", *plant.op("alice"))
    assert "set_speed speed=<integer 0..3000 mm/s>" in out.stderr


def test_device_error_exits_7_with_the_devices_words(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("send", url, "start", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == ExitCode.DEVICE_ERROR
    assert "belt jammed at station 3" in out.stderr and "-32000" in out.stderr


def test_dangerous_command_without_yes_sends_nothing(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("send", url, "estop", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == ExitCode.NOT_AUTHORIZED and "--yes" in out.stderr
    assert received == []


def test_device_refusing_for_the_role_exits_9(plant, jsonrpc_device):
    url, received = jsonrpc_device
    out = wsctl("send", url, "estop", "--yes", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == ExitCode.NOT_AUTHORIZED and "Not authorized" in out.stderr
    assert received[0]["method"] == "conveyor.estop"


@pytest.mark.parametrize("args", [[], ["status", "--raw", "x"]])
def test_command_or_raw_exactly_one(plant, args):
    out = wsctl("send", "wss://127.0.0.1:1/", *args, "--profile", "conveyor")
    assert out.returncode == ExitCode.USAGE


def test_command_without_a_profile_is_a_usage_error(plant):
    out = wsctl("send", "wss://127.0.0.1:1/", "status", *plant.op("alice"))
    assert out.returncode == ExitCode.USAGE and "--profile" in out.stderr


def test_inventory_profile_is_used(plant, jsonrpc_device, tmp_path):
    url, _ = jsonrpc_device
    inventory = tmp_path / "inv.toml"
    inventory.write_text(
        f'[devices.belt-1]\nurl = "{url}"\nprofile = "conveyor"\ncerts = "{plant.certs}"\noperator = "alice"\n'
    )
    out = wsctl("--json", "send", "belt-1", "status", "--inventory", str(inventory))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reply"]["method"] == "conveyor.status"


def test_events_beside_the_reply_go_to_stderr_with_v_never_into_the_result(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("send", url, "status", "--profile", "conveyor", *plant.op("alice"), "-v")
    assert out.returncode == 0
    assert "< conveyor.telemetry" in out.stderr and "matches no pending request" in out.stderr
    assert "telemetry" not in out.stdout
    # by default stderr holds only warnings and the final error (docs/client-server.md)
    for quiet_flags in ((), ("-q",)):
        quiet = wsctl(*quiet_flags, "send", url, "status", "--profile", "conveyor", *plant.op("alice"))
        assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
        assert "telemetry" not in quiet.stdout


def test_a_timeout_says_what_arrived_instead_of_the_reply(plant, jsonrpc_device):
    url, _ = jsonrpc_device
    out = wsctl("send", url, "reset", "--profile", "conveyor", *plant.op("alice"), "--timeout", "1")
    assert out.returncode == ExitCode.TIMEOUT
    error = [line for line in out.stderr.splitlines() if line.startswith("wsctl: error:")][0]
    assert "no reply within 1 s" in error and "matched nothing" in error and "not JSON" in error
