"""--record on watch and connect, and `serve --replay` answering from what they recorded."""

from __future__ import annotations

import json

from client_helpers import start_server, wsctl

from wsctl.files.recording_reader import open_recording


def events(path):
    reader = open_recording(path)
    return reader.header, list(reader)


def test_watch_record_keeps_both_directions_losslessly(plant, echo_server, tmp_path):
    rec = tmp_path / "watch.jsonl"
    out = wsctl(
        "watch",
        echo_server.url,
        *plant.op("bob"),
        "--send",
        "héllo\r\n",
        "--send",
        "second",
        "--count",
        "2",
        "--record",
        str(rec),
    )
    assert out.returncode == 0, out.stderr
    header, evs = events(rec)
    assert header.url == echo_server.url
    kinds = [(e.kind, e.dir) for e in evs]
    assert ("open", None) in kinds or any(k == "open" for k, _ in kinds)
    sent = [e.data for e in evs if e.kind == "text" and e.dir == "out"]
    got = [e.data for e in evs if e.kind == "text" and e.dir == "in"]
    assert sent == ["héllo\r\n", "second"] and got == ["héllo\r\n", "second"]
    assert evs[-1].kind == "close"


def test_record_redacts_before_the_disk(plant, echo_server, tmp_path):
    rec = tmp_path / "secret.jsonl"
    out = wsctl(
        "watch",
        echo_server.url,
        *plant.op("bob"),
        "--send",
        '{"user":"op","token":"s3cr3t"}',
        "--count",
        "1",
        "--record",
        str(rec),
        "--redact",
        "/token",
    )
    assert out.returncode == 0, out.stderr
    assert "s3cr3t" not in rec.read_text()


def test_redact_without_record_is_a_usage_error(plant, echo_server):
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--count", "1", "--redact", "/token")
    assert out.returncode == 2 and "--record" in out.stderr


def test_connect_record_with_a_profile_then_serve_replay_answers_from_it(plant, jsonrpc_device, tmp_path):
    url, _ = jsonrpc_device
    rec = tmp_path / "console.jsonl"
    out = wsctl(
        "connect",
        url,
        "--profile",
        "conveyor",
        *plant.op("alice"),
        "--linger",
        "0.3",
        "--record",
        str(rec),
        input="status\nset_speed speed=700\n",
    )
    assert out.returncode == 0, out.stderr
    header, evs = events(rec)
    assert header.profile == "conveyor" and header.subprotocol == "conveyor.v1"
    assert [json.loads(e.data)["method"] for e in evs if e.kind == "text" and e.dir == "out"] == [
        "conveyor.status",
        "conveyor.set_speed",
    ]

    mock = start_server(
        "--replay", str(rec), "--profile", "conveyor", "--ignore", "/id", "--certs", str(plant.certs), "--device", "dev"
    )
    try:
        assert mock.first["replay"] == str(rec)
        again = wsctl("--json", "send", mock.url, "set_speed", "speed=700", "--profile", "conveyor", *plant.op("alice"))
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["reply"]["params"] == {"speed": 700}
        other = wsctl(
            "send", mock.url, "set_speed", "speed=900", "--profile", "conveyor", *plant.op("alice"), "--timeout", "3"
        )
        assert other.returncode != 0
    finally:
        lines = mock.lines()
    assert any(line.get("event") == "unmatched" for line in lines)


def test_serve_replay_flags_need_replay(plant):
    out = wsctl(
        "serve", "--echo", "--ignore", "/id", "--certs", str(plant.certs), "--device", "dev", "--listen", "127.0.0.1:0"
    )
    assert out.returncode == 2 and "--replay" in out.stderr


def test_serve_replay_of_a_missing_file_fails_before_listening(plant, tmp_path):
    out = wsctl(
        "serve",
        "--replay",
        str(tmp_path / "nope.jsonl"),
        "--certs",
        str(plant.certs),
        "--device",
        "dev",
        "--listen",
        "127.0.0.1:0",
    )
    assert out.returncode == 8 and "nope.jsonl" in out.stderr


def test_serve_replay_takes_profile_and_subprotocol_from_the_recording(plant, jsonrpc_device, tmp_path):
    url, _ = jsonrpc_device
    rec = tmp_path / "console.jsonl"
    out = wsctl(
        "connect",
        url,
        "--profile",
        "conveyor",
        *plant.op("alice"),
        "--linger",
        "0.3",
        "--record",
        str(rec),
        input="status\n",
    )
    assert out.returncode == 0, out.stderr
    mock = start_server("--replay", str(rec), "--ignore", "/id", "--certs", str(plant.certs), "--device", "dev")
    try:
        assert "conveyor.v1" in mock.first["subprotocols"]
        again = wsctl("--json", "send", mock.url, "status", "--profile", "conveyor", *plant.op("alice"))
        assert again.returncode == 0, again.stderr
        # unmatched: answered with the profile's error form (from the recording's header), not left to time out
        other = wsctl(
            "send", mock.url, "set_speed", "speed=900", "--profile", "conveyor", *plant.op("alice"), "--timeout", "5"
        )
        assert other.returncode == 7, other.stderr
    finally:
        mock.lines()


def test_record_refuses_a_fleet(plant, echo_server, tmp_path):
    out = wsctl(
        "watch",
        echo_server.url,
        "wss://127.0.0.1:1/",
        *plant.op("bob"),
        "--count",
        "1",
        "--record",
        str(tmp_path / "x.jsonl"),
    )
    assert out.returncode == 2 and "one device" in out.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_recordings_are_private_files(plant, echo_server, tmp_path):
    import stat

    rec = tmp_path / "private.jsonl"
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--send", "x", "--count", "1", "--record", str(rec))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600


def test_replay_replies_only_compares_replies_not_telemetry(plant, tmp_path):
    # telemetry every 50 ms: a recording full of it, different on every run
    rec = tmp_path / "busy.jsonl"
    first = start_server(
        "--profile",
        "conveyor",
        "--telemetry-scale",
        "0.05",
        "--seed",
        "1",
        "--certs",
        str(plant.certs),
        "--device",
        "dev",
    )
    try:
        out = wsctl(
            "connect",
            first.url,
            "--profile",
            "conveyor",
            *plant.op("alice"),
            "--linger",
            "0.4",
            "--record",
            str(rec),
            input="status\nstart\nset_speed speed=700\nstatus\n",
        )
        assert out.returncode == 0, out.stderr
    finally:
        first.lines()

    def replay_against_a_fresh_conveyor(*extra):
        # the simulator keeps state: every replay starts from a device just switched on
        fresh = start_server(
            "--profile",
            "conveyor",
            "--telemetry-scale",
            "0.05",
            "--seed",
            "2",
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
        )
        try:
            return wsctl(
                "replay",
                str(rec),
                "--to",
                fresh.url,
                *plant.op("alice"),
                "--mode",
                "reply",
                "--ignore",
                "/id",
                "--ignore",
                "/result/motor_temp",
                *extra,
            )
        finally:
            fresh.lines()

    assert replay_against_a_fresh_conveyor().returncode == 7  # telemetry interleaves differently
    replies = replay_against_a_fresh_conveyor("--replies-only")
    assert replies.returncode == 0, replies.stdout + replies.stderr
    assert "4 answers recorded, 4 received: answers match" in replies.stdout


def test_replies_only_needs_a_profile(plant, echo_server, tmp_path):
    rec = tmp_path / "plain.jsonl"
    assert (
        wsctl(
            "watch", echo_server.url, *plant.op("bob"), "--send", "x", "--count", "1", "--record", str(rec)
        ).returncode
        == 0
    )
    out = wsctl("replay", str(rec), "--to", echo_server.url, *plant.op("bob"), "--replies-only")
    assert out.returncode == 2 and "needs a profile" in out.stderr
