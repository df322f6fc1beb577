"""`wsctl send` against a real `wsctl serve --echo` with mutual TLS; the verb runs
in-process (what it prints and returns is the point, not being a process)."""

from __future__ import annotations

import json

from client_helpers import wsctl_in_process as wsctl

from wsctl.core.exit_table import ExitCode


def test_send_prints_the_reply(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("alice"), "--raw", '{"cmd":"status"}')
    assert out.returncode == 0, out.stderr
    assert out.stdout == '{"cmd":"status"}\n'


def test_send_json_result_has_stable_keys(plant, echo_server):
    out = wsctl("--json", "send", echo_server.url, *plant.op("bob"), "--raw", "hi")
    result = json.loads(out.stdout)
    assert out.returncode == 0
    assert set(result) == {"device", "ok", "elapsed", "replies"}
    assert result["ok"] is True and result["replies"] == [{"type": "text", "data": "hi"}]


def test_binary_round_trip_is_base64_both_ways(plant, echo_server):
    out = wsctl("--json", "send", echo_server.url, *plant.op("bob"), "--binary", "--raw", "AAEC/w==")
    assert json.loads(out.stdout)["replies"] == [{"type": "binary", "data": "AAEC/w=="}]


def test_message_from_stdin(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("bob"), "--raw", "-", input="from stdin")
    assert out.stdout == "from stdin\n"


def test_waiting_for_more_replies_than_come_is_a_timeout(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("bob"), "--raw", "x", "--expect", "2", "--timeout", "0.5")
    assert out.returncode == ExitCode.TIMEOUT
    assert "got 1 of 2" in out.stderr


def test_bad_base64_is_invalid_input_and_nothing_connects(plant):
    out = wsctl("send", "wss://127.0.0.1:1/", *plant.op("bob"), "--binary", "--raw", "not base64!")
    assert out.returncode == ExitCode.INVALID and "base64" in out.stderr


def test_no_client_certificate_is_a_tls_failure(plant, echo_server):
    out = wsctl("send", echo_server.url, "--ca", str(plant.certs / "ca" / "root.crt"), "--raw", "x")
    assert out.returncode == ExitCode.TLS
    assert "client certificate" in out.stderr


def test_revoked_operator_is_refused(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("mallory"), "--raw", "x")
    assert out.returncode == ExitCode.TLS and "revoked" in out.stderr


def test_refused_port_is_a_connect_error(plant):
    out = wsctl("send", "wss://127.0.0.1:1/", *plant.op("bob"), "--raw", "x")
    assert out.returncode == ExitCode.CONNECT and "refused" in out.stderr


def test_plaintext_needs_an_explicit_flag(plant):
    out = wsctl("send", "ws://127.0.0.1:1/", "--raw", "x")
    assert out.returncode == ExitCode.USAGE and "--allow-plaintext" in out.stderr


def test_bad_header_is_a_usage_error(plant):
    out = wsctl("send", "wss://127.0.0.1:1/", *plant.op("bob"), "--header", "no colon", "--raw", "x")
    assert out.returncode == ExitCode.USAGE and "Name: value" in out.stderr


def test_encrypted_key_without_passphrase_source_fails_cleanly(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("alice"), "--raw", "x", env={"WSCTL_PASSWORD": ""})
    assert out.returncode != 0
    assert "passphrase" in out.stderr and "Traceback" not in out.stderr


def test_pin_of_the_device_is_accepted_and_a_wrong_pin_refused(plant, echo_server):
    fp = wsctl("certs", "--dir", str(plant.certs), "fingerprint", "dev").stdout.split()[0]
    assert fp.startswith("sha256:")
    good = wsctl("send", echo_server.url, *plant.op("bob"), "--pin", fp, "--raw", "x")
    assert good.returncode == 0, good.stderr
    bad = wsctl("send", echo_server.url, *plant.op("bob"), "--pin", "sha256:" + "0" * 64, "--raw", "x")
    assert bad.returncode == ExitCode.TLS and fp in bad.stderr


def test_inventory_alias_and_group_fan_out(plant, echo_server, tmp_path):
    inventory = tmp_path / "inv.toml"
    inventory.write_text(
        f"""
[defaults]
certs = "{plant.certs}"
operator = "bob"

[devices.good]
url = "{echo_server.url}"

[devices.dead]
url = "wss://127.0.0.1:1/"

[groups]
line-1 = ["good", "dead"]
"""
    )
    one = wsctl("send", "good", "--inventory", str(inventory), "--raw", "hello")
    assert one.returncode == 0 and one.stdout == "hello\n"
    fleet = wsctl("--json", "send", "line-1", "--inventory", str(inventory), "--raw", "hello", "--parallel", "2")
    rows = {row["device"]: row for row in map(json.loads, fleet.stdout.splitlines())}
    assert rows["good"]["ok"] is True and rows["good"]["replies"][0]["data"] == "hello"
    assert rows["dead"]["ok"] is False and rows["dead"]["exit_code"] == ExitCode.CONNECT
    assert fleet.returncode == ExitCode.CONNECT
    human = wsctl("send", "good,dead", "--inventory", str(inventory), "--raw", "hello")
    assert "good" in human.stdout and " ok " in human.stdout and "error" in human.stdout


def test_unknown_target_names_the_inventory_entries(plant, tmp_path):
    inventory = tmp_path / "inv.toml"
    inventory.write_text('[devices.plc-17]\nurl = "wss://127.0.0.1:1/"\n')
    out = wsctl("send", "plc-99", "--inventory", str(inventory), "--raw", "x")
    assert out.returncode == ExitCode.INVALID
    assert "plc-99" in out.stderr and "plc-17" in out.stderr


def test_a_subprotocol_the_device_does_not_choose_is_warned_about(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("bob"), "--subprotocol", "conveyor.v9", "--raw", "x")
    assert out.returncode == 0
    assert "offered subprotocol(s) conveyor.v9; the device chose none" in out.stderr


def test_a_missing_certificate_is_named_before_its_key(plant):
    out = wsctl("--json", "send", "wss://127.0.0.1:1/", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k.pem",
                "--raw", "x")  # fmt: skip
    assert out.returncode == ExitCode.INVALID
    assert json.loads(out.stderr)["message"] == "cannot read certificate /nonexistent/c.pem: no such file"
