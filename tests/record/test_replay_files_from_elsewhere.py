"""Recordings from elsewhere, replayed (`wsctl replay`, `serve --replay`): what
they send needs the confirmation `send` needs, the dry run shows what will be
sent, long gaps are announced, comparison is skipped with --no-compare, and a
mock times its greeting from its own connection.  Real `wsctl serve` on port 0."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest
from record_helpers import PASSWORD, Process, wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record.format import Event, Header, encode_event, encode_header
from wsctl.net.mockserver import load_script

STATUS = '{"jsonrpc":"2.0","id":1,"method":"conveyor.status"}'
ESTOP = '{"jsonrpc":"2.0","id":2,"method":"conveyor.estop","params":{}}'
#: the device (Python's json, the simulator) reads the last `method`; a reader of the first sees a status poll
HIDDEN = '{"jsonrpc":"2.0","id":2,"method":"conveyor.status","comment":"' + "x" * 120 + '","method":"conveyor.estop"}'


def write(path, sends, *, profile="conveyor", conn=1, extra=()):
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://plc/", started=1.0, profile=profile, subprotocol="conveyor.v1")))
        f.write(encode_event(Event(t=0.0, kind="open", conn=conn)))
        for t, data in sends:
            f.write(encode_event(Event(t=t, kind="text", dir="out", conn=conn, data=data)))
        for event in extra:
            f.write(encode_event(event))
    return str(path)


@pytest.fixture
def conveyor(plant):
    server = Process("serve", "--profile", "conveyor", "--listen", "127.0.0.1:0", "--certs", str(plant.certs),
                     "--device", "dev", "--telemetry-scale", "0.05")  # fmt: skip
    yield server
    server.kill()


def state(plant, url) -> dict:
    out = wsctl("--json", "send", url, "status", "--profile", "conveyor", *plant.op())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["reply"]


@pytest.mark.parametrize("message", [ESTOP, HIDDEN], ids=["estop", "duplicate-key"])
def test_a_dangerous_or_ambiguous_recorded_send_needs_yes(plant, conveyor, tmp_path, message):
    rec = write(tmp_path / "r.jsonl", [(0.1, STATUS), (0.2, message)])
    out = wsctl("replay", rec, "--to", conveyor.url, *plant.op(), "--no-compare", "--mode", "fast")
    assert out.returncode == ExitCode.NOT_AUTHORIZED, out.stdout + out.stderr
    assert "send 2" in out.stderr and "nothing was sent" in out.stderr
    assert state(plant, conveyor.url)["state"] != "estop"
    out = wsctl("replay", rec, "--to", conveyor.url, *plant.op(), "--no-compare", "--mode", "fast", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_dry_run_shows_what_the_device_reads_escaped_and_whole(tmp_path):
    rec = write(tmp_path / "r.jsonl", [(0.1, HIDDEN), (0.2, ESTOP), (0.3, "status\r\x1b[2K" + "y" * 300)])
    out = wsctl("replay", rec, "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # the ambiguous message whole (both keys), flagged; the decoded command beside the e-stop
    assert '"method":"conveyor.estop"}' in lines[0] and "[ambiguous: duplicate key 'method']" in lines[0]
    assert lines[1].endswith("[estop]")
    # control characters escaped, and what a shortened message leaves out
    assert "\x1b" not in out.stdout and "\r" not in out.stdout
    assert "\\r\\x1b[2K" in lines[2] and "(211 more characters)" in lines[2]


def test_a_dry_run_of_a_recording_with_nothing_to_send_exits_8(tmp_path):
    rec = write(tmp_path / "r.jsonl", [])
    out = wsctl("replay", rec, "--dry-run")
    assert out.returncode == ExitCode.INVALID
    assert "nothing to replay" in out.stderr


def test_a_long_recorded_gap_is_announced_before_it_begins(plant, conveyor, tmp_path):
    rec = write(tmp_path / "r.jsonl", [(0.1, STATUS), (1e9, STATUS)])
    proc = subprocess.Popen([sys.executable, "-m", "wsctl", "replay", rec, "--to", conveyor.url, *plant.op(),
                             "--no-compare"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "WSCTL_PASSWORD": PASSWORD})  # fmt: skip
    err = ""
    try:
        deadline = time.monotonic() + 30
        while "--max-delay" not in err and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stderr.readline() if ready else ""
            if not line:
                break
            err += line
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert "send 2 is due in 1000000000 s" in err and "--max-delay" in err


def test_a_fleet_replay_announces_a_long_gap_once(plant, conveyor, tmp_path):
    rec = write(tmp_path / "r.jsonl", [(0.1, STATUS), (1e9, STATUS)])
    inventory = tmp_path / "inv.toml"
    inventory.write_text(f'[devices.a]\nurl = "{conveyor.url}"\n[devices.b]\nurl = "{conveyor.url}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "wsctl", "replay", rec, "--to", "a,b", "--inventory", str(inventory),
                             *plant.op(), "--no-compare"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "WSCTL_PASSWORD": PASSWORD})  # fmt: skip
    err = ""
    try:
        deadline = time.monotonic() + 30
        while "--max-delay" not in err and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stderr.readline() if ready else ""
            if not line:
                break
            err += line
        time.sleep(1)  # the second device reaches the same gap: no second warning
    finally:
        proc.kill()
        err += proc.communicate(timeout=10)[1]
    assert err.count("send 2 is due in") == 1, err


def test_no_compare_does_not_compare(plant, tmp_path):
    # repetitive answers (polled status) that difflib aligns in cubic time: minutes for
    # 2400 of them (the echo answers each send with itself); --no-compare skips it
    sends = [(0.0, '{"t":2}'), (0.0, '{"t":1}'), (0.0, '{"t":3}')] * 800
    answers = [Event(t=0.01, kind="text", dir="in", conn=1, data=f'{{"t":{1 + n % 2}}}') for n in range(2400)]
    rec = write(tmp_path / "r.jsonl", sends, profile=None, extra=answers)
    server = Process("serve", "--echo", "--listen", "127.0.0.1:0", "--certs", str(plant.certs), "--device", "dev")
    try:
        out = wsctl("--json", "replay", rec, "--to", server.url, *plant.op(), "--mode", "fast", "--no-compare",
                    "--reply-timeout", "5", timeout=60)  # fmt: skip
    finally:
        server.kill()
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["compared"] is False and result["sent"] == 2400 and result["received"] == 2400


def test_a_mock_times_the_greeting_from_its_own_connection(tmp_path):
    path = tmp_path / "two.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://x/", started=1.0)))
        for event in (
            Event(t=0.0, kind="open", conn=1),
            Event(t=0.5, kind="close", dir="out", conn=1, code=1000),
            Event(t=3000.0, kind="open", conn=2),
            Event(t=3000.2, kind="text", dir="in", conn=2, data="hello greeting"),
            Event(t=3001.0, kind="text", dir="out", conn=2, data="ping"),
        ):
            f.write(encode_event(event))
    script = load_script(path)
    assert script.conn == 2
    assert [round(u.at, 3) for u in script.unsolicited] == [0.2]


def test_serve_replay_warns_of_a_long_recorded_wait(plant, tmp_path):
    rec = write(tmp_path / "r.jsonl", [(0.1, "ping")], profile=None,
                extra=[Event(t=5000.0, kind="text", dir="in", conn=1, data="late")])  # fmt: skip
    server = Process(
        "serve", "--replay", rec, "--listen", "127.0.0.1:0", "--certs", str(plant.certs), "--device", "dev"
    )
    _, _, err = server.stop()
    assert "waits longer than 60 s" in err and "4999.9 s before a reply to request 1" in err


def test_the_proxys_listening_line_never_holds_the_upstreams_password(plant, echo, tmp_path):
    upstream = echo.url.replace("wss://", "wss://cp1:s3cretPW@")
    proxy = Process("record", "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream,
                    "-o", str(tmp_path / "p.jsonl"), *plant.op(), "--device", "dev")  # fmt: skip
    try:
        assert proxy.first["event"] == "listening"
        assert proxy.first["upstream"] == echo.url.replace("wss://", "wss://cp1@")
    finally:
        proxy.kill()
