"""Strings in a recording from elsewhere: a format version that is not plain
ASCII digits, an unpaired surrogate (valid JSON, no UTF-8), control
characters in a header or event field.  Each ends in exit 8, a skipped line
with the usual warning, or escaped text on the terminal, never an internal
error or a forged line."""

from __future__ import annotations

import functools
import json
import re

import pytest
import trio
from cli_runner import run_in_process
from record_helpers import wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record.format import RecordFormatError, parse_version
from wsctl.core.record.reader import RecordReader
from wsctl.files.recording_reader import open_recording

HEADER = {"format": "wsctl-record/1", "started": 1718000000.0, "url": "wss://dev/", "source": "client"}
OPEN = {"t": 0.0, "conn": 1, "kind": "open"}
PING = {"t": 0.1, "conn": 1, "dir": "out", "kind": "text", "data": "ping"}
LONE = {"t": 0.2, "conn": 1, "dir": "in", "kind": "text", "data": "a\ud800b"}
PONG = {"t": 0.3, "conn": 1, "dir": "in", "kind": "text", "data": "pong"}
SKIPPED = "line 4: the text event holds an unpaired surrogate (not valid Unicode)"


def lines_of(header: dict, *events: dict) -> list[str]:
    # json.dumps escapes a lone surrogate as \ud800, as a crafted file would hold it
    return [json.dumps(header) + "\n", *(json.dumps(e) + "\n" for e in events)]


def write(path, header: dict, *events: dict) -> str:
    path.write_text("".join(lines_of(header, *events)), encoding="ascii")
    return str(path)


def one_error(out) -> str:
    assert out.returncode == ExitCode.INVALID, (out.stdout, out.stderr)
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("wsctl: error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


# -- 1. the format version: ASCII digits, few of them ---------------------------------------


@pytest.mark.parametrize("number", ["²", "١", "9" * 5000, "", "-1", "+1", " 1", "1 ", "0x1", "1_0", "1234567890"])
def test_a_version_that_is_not_one_to_nine_ascii_digits_is_a_format_error(number):
    with pytest.raises(RecordFormatError, match="unreadable format version"):
        parse_version({"format": "wsctl-record/" + number})


def test_a_plain_version_still_parses():
    assert parse_version({"format": "wsctl-record/1"}) == 1
    assert parse_version({"format": "wsctl-record/007"}) == 7


@pytest.mark.parametrize("number", ["²", "9" * 5000])
def test_every_reader_of_a_bad_version_exits_8(tmp_path, number):
    rec = write(tmp_path / "r.jsonl", {**HEADER, "format": "wsctl-record/" + number}, OPEN, PING)
    for argv in (
        ["record", "show", rec],
        ["record", "convert", rec, "--to", "har", "-o", str(tmp_path / "o.har")],
        ["replay", rec, "--dry-run"],
        ["replay", rec, "--to", "ws://127.0.0.1:9/"],
    ):
        line = one_error(run_in_process(*argv))
        assert f"{rec}: unreadable format version" in line and len(line) < 200, line


# -- 2. an unpaired surrogate: a corrupted line, a refused HAR message ------------------------


def test_the_file_reader_skips_an_event_with_a_lone_surrogate_with_the_usual_warning():
    warnings: list[str] = []
    reader = RecordReader(
        lines_of(HEADER, OPEN, PING, LONE, PONG), source="r.jsonl", warn=warnings.append, refuse_surrogates=True
    )
    assert [e.data for e in reader if e.is_message] == ["ping", "pong"]
    assert reader.skipped == 1 and warnings == [f"r.jsonl: {SKIPPED}; line skipped"]


@pytest.mark.parametrize(
    "event",
    [
        {"t": 0.2, "conn": 1, "dir": "in", "kind": "close", "code": 1000, "reason": "\udfff"},
        {"t": 0.2, "conn": 1, "kind": "gap", "error": "x\ud800", "delay": 1, "attempt": 1},
        {"t": 0.2, "conn": 1, "kind": "open", "url": "wss://\ud800/", "peer": {"name": ["\ud800"]}},
    ],
)
def test_a_lone_surrogate_in_any_string_of_an_event_is_a_corrupted_line(event):
    reader = RecordReader(lines_of(HEADER, OPEN, event), source="r.jsonl", refuse_surrogates=True)
    assert [e.t for e in reader] == [0.0] and reader.skipped == 1
    assert f"the {event['kind']} event holds an unpaired surrogate" in reader.warnings[0]


def test_strict_refuses_a_lone_surrogate_and_a_header_with_one_is_refused():
    with pytest.raises(RecordFormatError, match=re.escape(f"r.jsonl: {SKIPPED} (strict)")):
        list(RecordReader(lines_of(HEADER, OPEN, PING, LONE), source="r.jsonl", strict=True, refuse_surrogates=True))
    with pytest.raises(RecordFormatError, match="r.jsonl: the header holds an unpaired surrogate"):
        RecordReader(lines_of({**HEADER, "url": "wss://\ud800/"}, OPEN), source="r.jsonl", refuse_surrogates=True)


def test_lines_in_memory_keep_the_round_trip_by_default():
    # what a Python caller recorded: the writer escapes the surrogate, the in-memory reader gives it back
    reader = RecordReader(lines_of(HEADER, OPEN, LONE), source="r.jsonl", strict=True)
    assert [e.data for e in reader if e.is_message] == ["a\ud800b"]


def test_open_recording_refuses_lone_surrogates(tmp_path):
    warnings: list[str] = []
    reader = open_recording(write(tmp_path / "r.jsonl", HEADER, OPEN, PING, LONE, PONG), warn=warnings.append)
    assert [e.data for e in reader if e.is_message] == ["ping", "pong"]
    assert warnings == [f"{tmp_path / 'r.jsonl'}: {SKIPPED}; line skipped"]


def test_show_convert_and_replay_skip_a_lone_surrogate_instead_of_crashing(tmp_path):
    # a real process: its stdout is UTF-8 and cannot carry a surrogate (an in-process StringIO could)
    rec = write(tmp_path / "r.jsonl", HEADER, OPEN, PING, LONE, PONG)
    for argv in (["record", "show", rec], ["--json", "record", "show", rec], ["replay", rec, "--dry-run"]):
        out = wsctl(*argv, timeout=30)
        assert out.returncode == 0 and SKIPPED in out.stderr and "internal error" not in out.stderr, out.stderr
    shown = wsctl("--json", "record", "show", rec, timeout=30).stdout.splitlines()
    assert [json.loads(line).get("data") for line in shown][-2:] == ["ping", "pong"]
    har = wsctl("record", "convert", rec, "--to", "har", timeout=30)
    assert har.returncode == 0 and SKIPPED in har.stderr, har.stderr
    messages = json.loads(har.stdout)["log"]["entries"][0]["_webSocketMessages"]  # whole, not half-written
    assert [m["data"] for m in messages] == ["ping", "pong"]
    for argv in (["record", "show", rec, "--strict"], ["replay", rec, "--dry-run", "--strict"]):
        assert f"{SKIPPED} (strict)" in one_error(wsctl(*argv, timeout=30))


def test_har_import_refuses_a_message_with_a_lone_surrogate(tmp_path):
    message = {"type": "send", "time": 1718000000.5, "opcode": 1, "data": "\ud800"}
    doc = {"log": {"entries": [{"request": {"url": "wss://x/"}, "_webSocketMessages": [message]}]}}
    har = tmp_path / "in.har"
    har.write_text(json.dumps(doc), encoding="ascii")
    out = run_in_process("record", "convert", str(har), "--to", "record", "-o", str(tmp_path / "r.jsonl"))
    assert "in.har: entry 1, message 1: holds an unpaired surrogate" in one_error(out)
    assert not (tmp_path / "r.jsonl").exists()


async def test_serve_replay_skips_a_lone_surrogate_instead_of_closing_1011(plant, tmp_path):
    from wsctl.net.api import open_device
    from wsctl.net.mockserver import replay_handler
    from wsctl.net.server import serve

    # the device's first message (sent unsolicited on connect) is the surrogate
    unsolicited = {**LONE, "t": 0.05}
    rec = write(tmp_path / "r.jsonl", HEADER, OPEN, unsolicited, PING, PONG)
    handler = replay_handler(rec, unsolicited=True)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve, handler, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as device:
            await device.send("ping")
            assert await device.receive(timeout=5) == "pong"
        nursery.cancel_scope.cancel()


# -- 5. record show: control characters from the file are escaped ----------------------------

ESC = "\x1b[31m\nFAKE"


def test_record_show_escapes_every_header_and_event_field(tmp_path):
    header = {**HEADER, "url": "wss://x/" + ESC, "wsctl": "0.1\x1b[2J", "source": "client\x1b[5m"}
    header["fingerprints"] = {"tool": "\x1b]0;t\x07", "device": "d\r"}
    header["subprotocol"], header["profile"] = "s\x1b", "p\x9b"  # an unknown profile is only a name here
    rec = write(
        tmp_path / "r.jsonl",
        header,
        {"t": 0, "conn": 1, "kind": "open", "url": "u" + ESC, "subprotocol": "s" + ESC, "peer": {"name": "n" + ESC}},
        {"t": 1, "conn": 1, "dir": "in", "kind": "text", "data": "a\x1b[31mred\rX\nnew\tcol\x9b2J é🤖"},
        {"t": 2, "conn": 1, "kind": "gap", "error": "e" + ESC, "delay": 1, "attempt": 1},
        {"t": 3, "conn": 1, "kind": "error", "error": "x" + ESC},
        {"t": 4, "conn": 1, "dir": "in", "kind": "close", "code": 1000, "reason": "r" + ESC},
    )
    out = run_in_process("record", "show", rec)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 + 5 and all(line.startswith(("# ", "+")) for line in lines), lines  # nothing forged
    assert not any(c in out.stdout for c in "\x1b\r\x07\x9b")
    assert lines[0] == "# wss://x/\\x1b[31m\\nFAKE  subprotocol=s\\x1b  profile=p\\x9b  source=client\\x1b[5m"
    assert lines[1].endswith("device=d\\r  tool=\\x1b]0;t\\x07")
    assert lines[2].endswith("== open u\\x1b[31m\\nFAKE from n\\x1b[31m\\nFAKE subprotocol=s\\x1b[31m\\nFAKE")
    assert lines[3].endswith("< a\\x1b[31mred\\rX\\nnew\tcol\\x9b2J é🤖")  # tab and the rest of Unicode kept
    assert lines[4].endswith("~~ gap: e\\x1b[31m\\nFAKE; retry 1 after 1.00 s")
    assert lines[5].endswith("!! error: x\\x1b[31m\\nFAKE")
    assert lines[6].endswith("xx close 1000 by device (r\\x1b[31m\\nFAKE)")


def test_record_show_json_keeps_the_exact_text(tmp_path):
    data = "a\x1b[31m\nb\x9b"
    rec = write(tmp_path / "r.jsonl", {**HEADER, "url": "wss://x/" + ESC}, OPEN, {**PING, "data": data})
    out = run_in_process("--json", "record", "show", rec)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0]["url"] == "wss://x/" + ESC and rows[-1]["data"] == data
