"""What a job parses must always parse (issue 9, items 1 and 4): every stdout
line of a verb's JSON / non-terminal use is one JSON object, and `watch`
tells silence from success."""

from __future__ import annotations

import json
import socket

import pytest
from client_helpers import wsctl


def _json_lines(text: str) -> list[dict]:
    objects = []
    for line in text.splitlines():
        obj = json.loads(line)  # fails the test on any human line
        assert isinstance(obj, dict), line
        objects.append(obj)
    return objects


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"wss://127.0.0.1:{sock.getsockname()[1]}/"


def test_fleet_watch_piped_writes_only_json_with_summaries_tagged(plant, echo_server):
    targets = f"{echo_server.url},{_dead_url()}"
    out = wsctl("watch", targets, *plant.op("bob"), "--send", "hello", "--duration", "1.5")
    lines = _json_lines(out.stdout)
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert len(summaries) == 2, out.stdout
    assert {s["ok"] for s in summaries} == {True, False}
    failed = next(s for s in summaries if not s["ok"])
    assert failed["error"] == "connect" and failed["exit_code"] == 3
    assert any(line.get("data") == "hello" for line in lines if "event" not in line)
    assert out.returncode == 3  # every failure was a connect failure (docs/exit-codes.md, fleets)


def test_watch_count_not_reached_within_duration_exits_6(plant, echo_server):
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--count", "1", "--duration", "1")
    assert out.returncode == 6, out.stderr
    assert "0 of 1 message within" in out.stderr
    assert out.stdout == ""


def test_watch_count_reached_before_duration_is_success(plant, echo_server):
    out = wsctl("watch", echo_server.url, *plant.op("bob"), "--send", "x", "--count", "1", "--duration", "20")
    assert out.returncode == 0, out.stderr


def test_watch_count_not_reached_under_json_is_a_json_error(plant, echo_server):
    out = wsctl(
        "--json", "watch", echo_server.url, *plant.op("bob"), "--count", "2", "--send", "one", "--duration", "1"
    )
    assert out.returncode == 6
    lines = _json_lines(out.stdout)
    assert lines[0]["data"] == "one"
    assert lines[-1]["error"] == "timeout" and lines[-1]["event"] == "summary"


@pytest.mark.parametrize(
    "verb",
    [
        ("exit-codes",),
        ("profile", "list"),
        ("profile", "show", "conveyor"),
    ],
)
def test_json_output_of_offline_verbs_parses(verb):
    out = wsctl("--json", *verb)
    assert out.returncode == 0, out.stderr
    assert _json_lines(out.stdout)


def test_json_output_of_client_verbs_parses(plant, echo_server, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("raw hello\n")
    for args in (
        ("send", echo_server.url, "--raw", "hi"),
        ("send", f"{echo_server.url},{_dead_url()}", "--raw", "hi"),
        ("watch", echo_server.url, "--send", "a", "--count", "1"),
    ):
        out = wsctl("--json", *args, *plant.op("bob"))
        assert _json_lines(out.stdout), (args, out.stdout, out.stderr)
    out = wsctl("--json", "certs", "--dir", str(plant.certs), "list")
    assert out.returncode == 0 and _json_lines(out.stdout)
