"""stderr is quiet by default, -v says what the connection did, --json keeps
stderr parseable, SSLKEYLOGFILE is honoured loudly (issue 9, item 6)."""

from __future__ import annotations

import json

import pytest
from client_helpers import start_server, wsctl


@pytest.fixture
def chatty_conveyor(plant):
    """A simulated conveyor sending telemetry twenty times a second."""
    server = start_server(
        "--profile", "conveyor", "--certs", str(plant.certs), "--device", "dev", "--telemetry-scale", "0.05"
    )
    yield server
    server.proc.kill()
    server.proc.wait(timeout=10)


def test_default_stderr_is_empty_on_success(plant, chatty_conveyor):
    # the conveyor pushes telemetry twenty times a second: on a busy machine some of it
    # arrives before the reply, and it must not reach stderr without -v either (it did)
    for _ in range(3):
        out = wsctl("send", chatty_conveyor.url, "status", "--profile", "conveyor", *plant.op("alice"))
        assert out.returncode == 0, out.stderr
        assert out.stderr == ""


def test_verbose_shows_the_telemetry_seen_in_passing(plant, chatty_conveyor):
    script = "sleep 0.5\nstatus\n"  # half a second of telemetry before the command
    args = ("run", chatty_conveyor.url, "-", "--profile", "conveyor", *plant.op("alice"))
    out = wsctl(*args, "-v", input=script)
    assert out.returncode == 0, out.stderr
    assert f"-- {chatty_conveyor.url} < conveyor.telemetry speed=" in out.stderr, out.stderr
    quiet = wsctl(*args, input=script)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_verbose_shows_tls_certificate_and_upgrade(plant, chatty_conveyor):
    out = wsctl("send", chatty_conveyor.url, "status", "--profile", "conveyor", *plant.op("alice"), "-v")
    assert out.returncode == 0, out.stderr
    err = out.stderr
    for needle in (
        "TCP peer 127.0.0.1:",
        "TLS TLSv1.",
        "cipher ",
        "subject CN=dev",
        "names DNS:localhost, IP:127.0.0.1",
        "issuer CN=Test Plant CA Issuing",
        "expires ",
        "sha256:",
        "GET / -> HTTP 101",
        "chosen: conveyor.v1",
    ):
        assert needle in err, (needle, err)


def test_json_keeps_every_stderr_line_parseable(plant, chatty_conveyor):
    out = wsctl("--json", "send", chatty_conveyor.url, "status", "--profile", "conveyor", *plant.op("alice"), "-v")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert lines and all(isinstance(line, dict) for line in lines)
    assert any(line.get("event") == "log" and "TLS" in line["message"] for line in lines)


def test_sslkeylogfile_is_written_and_announced(plant, chatty_conveyor, tmp_path):
    keylog = tmp_path / "keys.log"
    out = wsctl(
        "send",
        chatty_conveyor.url,
        "status",
        "--profile",
        "conveyor",
        *plant.op("alice"),
        env={"SSLKEYLOGFILE": str(keylog)},
    )
    assert out.returncode == 0, out.stderr
    assert "SSLKEYLOGFILE is set" in out.stderr and str(keylog) in out.stderr
    text = keylog.read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in text or "CLIENT_RANDOM" in text


def test_very_verbose_shows_the_frames(plant, chatty_conveyor):
    out = wsctl("send", chatty_conveyor.url, "status", "--profile", "conveyor", *plant.op("alice"), "-vv")
    assert out.returncode == 0, out.stderr
    sent = [line for line in out.stderr.splitlines() if line.startswith("debug:") and " > " in line]
    got = [line for line in out.stderr.splitlines() if line.startswith("debug:") and " < " in line]
    assert any('"conveyor.status"' in line for line in sent), out.stderr
    assert got
    plain_v = wsctl("send", chatty_conveyor.url, "status", "--profile", "conveyor", *plant.op("alice"), "-v")
    assert not any(line.startswith("debug:") for line in plain_v.stderr.splitlines())
