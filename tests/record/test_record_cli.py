"""`wsctl record capture|show|convert` as users run them, against a real `wsctl serve --echo`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from record_helpers import PASSWORD, wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record.format import Event, Header, encode_event, encode_header
from wsctl.files.recording_reader import open_recording


def read(path):
    reader = open_recording(path)
    return reader.header, list(reader)


def test_capture_records_both_directions_with_header(plant, echo, tmp_path):
    out_file = tmp_path / "s.jsonl"
    out = wsctl(
        "--json",
        "record",
        "capture",
        echo.url,
        "-o",
        str(out_file),
        *plant.op(),
        "--send",
        "hello",
        "--send",
        "wörld\r\n",
        "--count",
        "2",
    )
    assert out.returncode == 0, out.stderr
    header, events = read(out_file)
    assert header.url == echo.url and header.source == "client"
    assert header.fingerprints["device"].startswith("sha256:") and header.fingerprints["tool"].startswith("sha256:")
    assert header.fingerprints["device"] != header.fingerprints["tool"]
    assert [(e.kind, e.dir, e.data) for e in events] == [
        ("open", None, None),
        ("text", "out", "hello"),
        ("text", "out", "wörld\r\n"),
        ("text", "in", "hello"),
        ("text", "in", "wörld\r\n"),
        ("close", "out", None),
    ]
    assert events[-1].code == 1000
    assert json.loads(out.stdout) | {"duration": 0} == json.loads(out.stdout) | {
        "duration": 0,
        "events": 6,
        "file": str(out_file),
    }


def test_capture_until_sigterm_keeps_a_complete_file(plant, echo, tmp_path):
    out_file = tmp_path / "long.jsonl"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wsctl",
            "record",
            "capture",
            echo.url,
            "-o",
            str(out_file),
            *plant.op(),
            "--send",
            "one",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out_file.exists() or b'"dir":"in"' not in out_file.read_bytes()):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=15)
    assert p.returncode == ExitCode.TERMINATED, err
    _, events = read(out_file)
    assert [e.kind for e in events] == ["open", "text", "text", "close"]


def test_capture_that_cannot_connect_records_the_error(plant, tmp_path):
    out_file = tmp_path / "refused.jsonl"
    out = wsctl("record", "capture", "wss://127.0.0.1:1/", "-o", str(out_file), *plant.op())
    assert out.returncode == ExitCode.CONNECT
    _, events = read(out_file)
    assert [e.kind for e in events] == ["error"] and "127.0.0.1:1" in events[0].error


def test_capture_redacts_before_the_disk(plant, echo, tmp_path):
    out_file = tmp_path / "red.jsonl"
    secret = '{"method":"login","params":{"password":"hunter2"}}'
    out = wsctl(
        "record",
        "capture",
        echo.url,
        "-o",
        str(out_file),
        *plant.op(),
        "--send",
        secret,
        "--count",
        "1",
        "--redact",
        "/params/password",
    )
    assert out.returncode == 0, out.stderr
    assert b"hunter2" not in out_file.read_bytes()
    assert "1 messages redacted" not in out.stdout and "2 messages redacted" in out.stdout


def write_recording(path, events, header=None):
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(header or Header(url="wss://dev/", started=1718000000.0)))
        for event in events:
            f.write(encode_event(event))


SAMPLE = [
    Event(t=0.0, kind="open", conn=1, info={"url": "wss://dev/"}),
    Event(
        t=0.5,
        kind="text",
        dir="out",
        conn=1,
        data='{"jsonrpc":"2.0","id":1,"method":"conveyor.set_speed","params":{"speed":1200}}',
    ),
    Event(t=0.6, kind="text", dir="in", conn=1, data='{"jsonrpc":"2.0","id":1,"result":{"speed":1200}}'),
    Event(t=0.7, kind="binary", dir="in", conn=1, data=b"\x00\x01"),
    Event(t=1.0, kind="gap", conn=1, error="connection lost", delay=0.5, attempt=1),
    Event(t=2.0, kind="close", dir="in", conn=1, code=1001, reason="bye"),
]


def test_show_timeline_and_profile_decoding(tmp_path):
    path = tmp_path / "r.jsonl"
    write_recording(path, SAMPLE)
    out = wsctl("record", "show", str(path), "--profile", "conveyor")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# wss://dev/")
    assert any(" > " in line and "[command set_speed speed=1200]" in line for line in lines)
    assert any(" < " in line and "[result id=1]" in line for line in lines)
    assert any("<binary 2 B> AAE=" in line for line in lines)
    assert any("~~ gap: connection lost" in line for line in lines)
    assert lines[-1].endswith("xx close 1001 by device (bye)")


def test_show_stats(tmp_path):
    path = tmp_path / "r.jsonl"
    write_recording(path, SAMPLE)
    out = wsctl("--json", "record", "show", str(path), "--stats")
    stats = json.loads(out.stdout)
    assert stats["messages"] == {"out": 1, "in": 2} and stats["gaps"] == 1 and stats["close_codes"] == {"1001": 1}
    assert stats["duration"] == 2.0 and stats["rate_per_s"]["in"] == 1.0


def test_show_skips_a_corrupted_line_with_a_warning_and_strict_fails(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_recording(path, SAMPLE)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, '{"t": 0.65, "kind": "te\n')
    path.write_text("".join(lines))
    out = wsctl("record", "show", str(path))
    assert out.returncode == 0
    assert "line 4" in out.stderr and "skipped" in out.stderr
    strict = wsctl("record", "show", str(path), "--strict")
    assert strict.returncode == ExitCode.INVALID and "line 4" in strict.stderr


def test_show_refuses_an_unknown_version(tmp_path):
    path = tmp_path / "future.jsonl"
    path.write_text('{"format": "wsctl-record/3"}\n')
    out = wsctl("record", "show", str(path))
    assert out.returncode == ExitCode.INVALID and "newer than this wsctl understands" in out.stderr


def test_convert_to_har_and_back(tmp_path):
    path, har, back = tmp_path / "r.jsonl", tmp_path / "r.har", tmp_path / "back.jsonl"
    write_recording(path, SAMPLE)
    assert wsctl("record", "convert", str(path), "--to", "har", "-o", str(har)).returncode == 0
    doc = json.loads(har.read_text())
    assert doc["log"]["entries"][0]["_webSocketMessages"][0]["type"] == "send"
    out = wsctl("record", "convert", str(har), "--to", "record", "-o", str(back))
    assert out.returncode == 0, out.stderr
    header, events = read(back)
    assert header.source == "client"  # a HAR wsctl wrote gives its original header back
    assert [(e.kind, e.dir, e.data) for e in events if e.is_message] == [
        (e.kind, e.dir, e.data) for e in SAMPLE if e.is_message
    ]
    assert events[-1].code == 1001


def test_convert_har_without_websocket_entries_fails(tmp_path):
    har = tmp_path / "page.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [{"request": {"url": "https://x/"}}]}}))
    out = wsctl("record", "convert", str(har), "--to", "record")
    assert out.returncode == ExitCode.INVALID and "no WebSocket entries" in out.stderr


def test_capture_with_reconnect_marks_each_gap(plant, tmp_path):
    out_file = tmp_path / "gaps.jsonl"
    out = wsctl(
        "record",
        "capture",
        "wss://127.0.0.1:1/",
        "-o",
        str(out_file),
        *plant.op(),
        "--reconnect",
        "--max-retries",
        "2",
        "--backoff-max",
        "0.2",
    )
    assert out.returncode == ExitCode.CONNECT
    _, events = read(out_file)
    assert [e.kind for e in events] == ["error", "gap", "error", "gap", "error"]
    gaps = [e for e in events if e.kind == "gap"]
    assert [g.attempt for g in gaps] == [1, 2] and all(0 <= g.delay <= 0.2 and "127.0.0.1:1" in g.error for g in gaps)


def test_plain_record_form_is_capture(plant, echo, tmp_path):
    from wsctl.cli.record import route

    assert route(["plc-17", "-o", "f"]) == ["capture", "plc-17", "-o", "f"]
    assert route(["--listen", "h:1", "--upstream", "d", "-o", "f"])[0] == "proxy"
    assert route(["-o", "f", "--upstream=d"])[0] == "proxy"
    assert route(["show", "f"]) == ["show", "f"] and route(["--help"]) == ["--help"] and route([]) == []
    out_file = tmp_path / "plain.jsonl"
    out = wsctl("--json", "record", echo.url, "-o", str(out_file), *plant.op(), "--send", "hi", "--count", "1")
    assert out.returncode == 0, out.stderr
    _, events = read(out_file)
    assert [(e.kind, e.dir, e.data) for e in events if e.is_message] == [("text", "out", "hi"), ("text", "in", "hi")]


def test_record_with_listen_and_upstream_is_the_proxy(plant, echo, tmp_path):
    from record_helpers import Process

    proxy = Process(
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        echo.url,
        "-o",
        str(tmp_path / "p.jsonl"),
        "--certs",
        str(plant.certs),
        "--device",
        "dev",
        "--operator",
        "alice",
    )
    try:
        assert proxy.first["event"] == "listening" and proxy.first["upstream"] == echo.url
    finally:
        proxy.kill()


def test_show_of_an_unknown_version_names_the_file(tmp_path):
    path = tmp_path / "future.jsonl"
    path.write_text('{"format":"wsctl-record/x","started":1}\n')
    out = wsctl("record", "show", str(path))
    assert out.returncode == ExitCode.INVALID and f"{path}: unreadable format version" in out.stderr


def test_replay_of_a_recording_without_tool_messages_is_an_invalid_file(tmp_path):
    path = tmp_path / "talker.jsonl"
    write_recording(
        path, [Event(t=0.0, kind="open", conn=1), Event(t=0.1, kind="text", dir="in", conn=1, data="telemetry")]
    )
    for extra in ([], ["--to", "wss://127.0.0.1:1/"]):
        out = wsctl("replay", str(path), *extra)
        assert out.returncode == ExitCode.INVALID and "nothing to replay" in out.stderr, (extra, out.stderr)


def test_an_output_that_cannot_be_created_fails_before_connecting(plant, tmp_path):
    # the target refuses connections: connecting first would exit 3 (connect), not 8
    out = wsctl("record", "wss://127.0.0.1:1/", "-o", str(tmp_path / "missing" / "s.jsonl"), *plant.op())
    assert out.returncode == ExitCode.INVALID, out.stderr
    assert "cannot create the recording" in out.stderr and "No such file or directory" in out.stderr
    assert "free some space" not in out.stderr


def test_show_conn_that_is_not_in_the_recording_exits_8(tmp_path):
    path = tmp_path / "r.jsonl"
    write_recording(path, SAMPLE)
    out = wsctl("record", "show", str(path), "--conn", "99")
    assert out.returncode == 8
    assert "no connection 99" in out.stderr and "connections:" in out.stderr


def test_proxy_on_a_busy_port_leaves_the_output_file_alone(plant, echo, tmp_path):
    import socket

    output = tmp_path / "keep.jsonl"
    output.write_text("precious\n")
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = wsctl(
            "record",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            echo.url,
            "-o",
            str(output),
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
            "--operator",
            "alice",
        )
    assert out.returncode == 8, out.stderr
    assert "cannot listen on" in out.stderr
    assert output.read_text() == "precious\n"
