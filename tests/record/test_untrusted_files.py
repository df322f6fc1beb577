"""Files from elsewhere — recordings, HAR files, inventories, the
known-devices file — through the real CLI (a `wsctl` subprocess, every wait
bounded): a header's `profile` is never opened as a path, FIFOs and devices
are refused instead of waited on or read forever, no line is read into memory
without bound, every crash class the fuzz tests found ends in one clear line
with exit 8 (or a skipped line with a warning), HAR output is as private as a
recording, and --trust-new takes effect over a known-devices file with
duplicate lines (against a real `wsctl serve --echo`)."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from record_helpers import Process, wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record import reader as record_reader
from wsctl.files.recording_reader import bounded_lines, open_recording

REPO = Path(__file__).resolve().parents[2]
HEADER = {"format": "wsctl-record/1", "started": 1718000000.0, "url": "wss://dev/", "source": "client"}
REQUEST = '{"jsonrpc":"2.0","id":1,"method":"conveyor.status"}'
EVENTS = [
    {"t": 0.0, "conn": 1, "kind": "open"},
    {"t": 0.1, "conn": 1, "dir": "out", "kind": "text", "data": REQUEST},
    {"t": 0.2, "conn": 1, "dir": "in", "kind": "text", "data": '{"jsonrpc":"2.0","id":1,"result":{"speed":0}}'},
]


def write_recording(path, header=None, events=EVENTS, extra: bytes = b"") -> str:
    lines = [json.dumps({**HEADER, **(header or {})})] + [json.dumps(e) for e in events]
    path.write_bytes("".join(line + "\n" for line in lines).encode() + extra)
    return str(path)


def one_error_line(out, code=ExitCode.INVALID) -> str:
    assert out.returncode == code, (out.stdout, out.stderr)
    errors = [line for line in out.stderr.splitlines() if line.startswith("wsctl: error:")]
    assert len(errors) == 1 and "internal error" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    return errors[0]


# -- the header's `profile` is a name, never a path ---------------------------------------


def test_record_show_decodes_by_an_installed_profile_the_header_names(tmp_path):
    rec = write_recording(tmp_path / "r.jsonl", {"profile": "conveyor"})
    out = wsctl("--json", "record", "show", rec, timeout=30)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line).get("decoded") for line in out.stdout.splitlines()][2] == "command status"


def test_record_show_never_opens_a_profile_path_from_the_header(tmp_path):
    # a valid profile at a path: it would decode if opened, so no "decoded" proves it was not
    (tmp_path / "conveyor-copy.toml").write_bytes((REPO / "profiles" / "conveyor.toml").read_bytes())
    fifo = tmp_path / "profile.fifo"
    os.mkfifo(fifo)
    for named in (str(tmp_path / "conveyor-copy.toml"), str(fifo), "../profiles/conveyor"):
        rec = write_recording(tmp_path / "r.jsonl", {"profile": named})
        out = wsctl("--json", "-v", "record", "show", rec, timeout=30)  # a FIFO opened would hang until the timeout
        assert out.returncode == 0, out.stderr
        assert not any("decoded" in json.loads(line) for line in out.stdout.splitlines()), named
        assert "not a plain profile name" in out.stderr


def test_an_explicit_profile_that_is_a_device_or_fifo_is_refused(tmp_path):
    rec = write_recording(tmp_path / "r.jsonl")
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    assert "/dev/zero: is a character device, not a profile file" in one_error_line(
        wsctl("record", "show", rec, "--profile", "/dev/zero", timeout=30)
    )
    assert "is a FIFO, not a profile file" in one_error_line(
        wsctl("record", "show", rec, "--profile", str(fifo), timeout=30)
    )


def test_replay_replies_only_refuses_a_profile_path_from_the_header(tmp_path):
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    rec = write_recording(tmp_path / "r.jsonl", {"profile": str(fifo)})
    line = one_error_line(wsctl("replay", rec, "--replies-only", "--to", "wss://127.0.0.1:1/", timeout=30))
    assert "is not a plain profile name" in line


def test_serve_replay_with_a_fifo_as_the_header_profile_still_starts(tmp_path):
    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    rec = write_recording(tmp_path / "r.jsonl", {"profile": str(fifo)})
    server = Process("serve", "--replay", rec, "--listen", "127.0.0.1:0", "--allow-plaintext", timeout=20)
    try:
        assert server.url.startswith("ws://127.0.0.1:")
    finally:
        _, _, err = server.stop()
    assert "not a plain profile name" in err


# -- files that are not regular files ------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["record", "show"],
        ["record", "show", "--stats"],
        ["replay", "--dry-run"],
        ["record", "convert", "--to", "har"],
        ["record", "convert", "--to", "record"],
    ],
)
def test_a_fifo_or_device_given_as_the_file_is_refused_not_waited_on(tmp_path, argv):
    fifo = tmp_path / "rec.fifo"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "a FIFO"), ("/dev/zero", "a character device")):
        line = one_error_line(wsctl(*argv[:2], path, *argv[2:], timeout=30))
        assert f"{path}: is {kind}" in line


def test_serve_replay_of_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "rec.fifo"
    os.mkfifo(fifo)
    line = one_error_line(
        wsctl("serve", "--replay", str(fifo), "--listen", "127.0.0.1:0", "--allow-plaintext", timeout=30)
    )
    assert "is a FIFO, not a recording" in line


def test_a_rotated_part_that_is_a_fifo_or_device_is_not_chained(tmp_path):
    rec = write_recording(tmp_path / "r.jsonl")
    os.mkfifo(tmp_path / "r.jsonl.1")
    out = wsctl("--json", "record", "show", rec, timeout=30)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 4, out.stderr
    os.unlink(tmp_path / "r.jsonl.1")
    os.symlink("/dev/zero", tmp_path / "r.jsonl.1")
    out = wsctl("--json", "record", "show", rec, timeout=30)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 4, out.stderr


# -- bounded lines -------------------------------------------------------------------------


class _Reads(io.BytesIO):
    """A file that remembers the largest line it handed out."""

    largest = 0

    def readline(self, size=-1):
        assert size is not None and size >= 0, "unbounded readline"
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line


def test_a_line_longer_than_the_limit_is_skipped_without_being_held():
    f = _Reads(b"short\n" + b"x" * 10000 + b"\nnext\n" + b"y" * 5000)
    lines = list(bounded_lines(f, 100))
    assert lines[0] == b"short\n" and lines[2] == b"next\n"
    assert isinstance(lines[1], record_reader.OversizedLine) and lines[1] == b"\n"
    assert isinstance(lines[3], record_reader.OversizedLine) and lines[3] == b""  # the unterminated last line
    assert f.largest <= 2**20  # skipped in chunks, never read whole


def test_an_oversized_event_line_is_skipped_with_a_warning_and_an_oversized_header_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(record_reader, "MAX_LINE_BYTES", 300)
    big = {"t": 0.15, "conn": 1, "dir": "in", "kind": "text", "data": "z" * 1000}
    rec = write_recording(tmp_path / "r.jsonl", events=[*EVENTS[:2], big, EVENTS[2]])
    warnings: list[str] = []
    reader = open_recording(rec, warn=warnings.append)
    assert [e.kind for e in reader] == ["open", "text", "text"] and reader.skipped == 1
    assert warnings == [f"{rec}: line 4: longer than 300 bytes; line skipped"]
    write_recording(tmp_path / "h.jsonl", {"url": "wss://" + "h" * 400})
    with pytest.raises(record_reader.RecordFormatError, match="first line longer than 300 bytes"):
        open_recording(tmp_path / "h.jsonl")


# -- each crash class the fuzz tests found: one clear line, exit 8 (or a skipped line) --------

DEEP = "[" * 100000 + "]" * 100000

SKIPPED_LINES = [
    (DEEP, "not JSON (RecursionError"),
    (json.dumps({"t": 0.3, "conn": 1, "kind": "text", "dir": None, "data": "x"}), "a text event needs 'dir'"),
    ('{"t":NaN,"conn":1,"kind":"text","dir":"in","data":"x"}', "'t' must be seconds within"),
    ('{"t":0.3,"wall":1e300,"conn":1,"kind":"text","dir":"in","data":"x"}', "'wall' must be seconds within"),
    (
        json.dumps({"t": 0.3, "conn": 1, "kind": "open", "peer": json.loads("[" * 40 + "]" * 40)}),
        "fields nested deeper than 32 levels",
    ),
]


@pytest.mark.parametrize("line, warning", SKIPPED_LINES)
def test_a_bad_event_line_is_skipped_with_a_warning_by_every_reader(tmp_path, line, warning):
    rec = write_recording(tmp_path / "r.jsonl", extra=line.encode() + b"\n" + json.dumps(EVENTS[2]).encode() + b"\n")
    for argv in (
        ["record", "show", rec],
        ["record", "show", rec, "--stats"],
        ["replay", rec, "--dry-run"],
        ["record", "convert", rec, "--to", "har", "-o", str(tmp_path / "o.har")],
    ):
        out = wsctl(*argv, timeout=30)
        assert out.returncode == 0, out.stderr
        assert f"line 5: {warning}" in out.stderr and "internal error" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    "header, message",
    [
        ('{"format":"wsctl-record/1","started":NaN}', "'started' must be epoch seconds, got NaN"),
        ('{"format":"wsctl-record/1","started":1e300}', "'started' must be epoch seconds, got 1e+300"),
        ('{"format":"wsctl-record/1","fingerprints":{"device":[1]}}', "'fingerprints' must be an object of strings"),
        ('{"format":"wsctl-record/1","url":' + DEEP + "}", "not a wsctl recording (first line is not JSON)"),
    ],
)
def test_a_bad_header_is_one_line_and_exit_8(tmp_path, header, message):
    rec = tmp_path / "r.jsonl"
    rec.write_text(header + "\n" + json.dumps(EVENTS[0]) + "\n")
    for argv in (
        ["record", "show", str(rec)],
        ["serve", "--replay", str(rec), "--listen", "127.0.0.1:0", "--allow-plaintext"],
    ):
        assert message in one_error_line(wsctl(*argv, timeout=30))


def test_events_the_format_allows_are_shown_not_crashed_on(tmp_path):
    rec = write_recording(
        tmp_path / "r.jsonl",
        events=[{"t": 0, "conn": 1, "kind": "open", "peer": 5}, {"t": 1, "conn": 2, "kind": "gap", "error": "lost"}],
    )
    out = wsctl("record", "show", rec, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].endswith("~~ gap: lost; retry None")


def test_a_deeply_nested_message_is_shown_undecoded(tmp_path):
    rec = write_recording(
        tmp_path / "r.jsonl",
        {"profile": "conveyor"},
        [*EVENTS, {"t": 1, "conn": 1, "dir": "out", "kind": "text", "data": DEEP}],
    )
    out = wsctl("--json", "record", "show", rec, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["decoded"] == "unrecognised (nested too deeply)"


def _har(**entry) -> dict:
    return {
        "log": {
            "entries": [
                {"_webSocketMessages": [{"type": "send", "time": 1718000000.5, "opcode": 1, "data": "x"}], **entry}
            ]
        }
    }


HAR_CLASSES = [
    (_har(response=[1]), None),  # a response that is not an object: ignored, like any missing header
    (_har(response={"headers": 5}), None),
    (
        {"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": float("nan"), "data": "x"}]}]}},
        "entry 1, message 1: 'time' must be a number, got NaN",
    ),
    (
        {"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": 1e300, "data": "x"}]}]}},
        "entry 1, message 1: 'time' 1e+300 is not epoch seconds or milliseconds",
    ),
    (_har(_wsctl={"events": 5}), None),
    (_har(_wsctl={"close": {"time": "x", "code": 1000}}), None),
    (
        _har(_wsctl={"events": [{"kind": "gap", "time": 1718000000.6, "delay": "soon"}]}),
        "entry 1, _wsctl.events[0]: 'delay' must be a number",
    ),
]


@pytest.mark.parametrize("doc, message", HAR_CLASSES)
def test_har_import_classes_end_in_one_line(tmp_path, doc, message):
    har = tmp_path / "in.har"
    har.write_text(json.dumps(doc))
    out = wsctl("record", "convert", str(har), "--to", "record", "-o", str(tmp_path / "r.jsonl"), timeout=30)
    if message is None:
        assert out.returncode == 0 and "internal error" not in out.stderr, out.stderr
        assert wsctl("record", "show", str(tmp_path / "r.jsonl"), timeout=30).returncode == 0
    else:
        assert message in one_error_line(out)


def test_a_deeply_nested_har_is_one_line_and_exit_8(tmp_path):
    har = tmp_path / "deep.har"
    har.write_text('{"log":' + DEEP + "}")
    assert "not a HAR file (JSON nested too deeply)" in one_error_line(
        wsctl("record", "convert", str(har), "--to", "record", timeout=30)
    )


# -- HAR output is private -------------------------------------------------------------------


def test_har_output_is_0600_like_a_recording_even_over_an_existing_file(tmp_path):
    rec = write_recording(tmp_path / "r.jsonl")
    os.chmod(rec, 0o600)
    fresh, existing = tmp_path / "new.har", tmp_path / "old.har"
    existing.write_text("{}")
    os.chmod(existing, 0o644)
    for target in (fresh, existing):
        out = wsctl("record", "convert", rec, "--to", "har", "-o", str(target), timeout=30)
        assert out.returncode == 0, out.stderr
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert json.loads(target.read_text())["log"]["entries"][0]["_webSocketMessages"][0]["data"] == REQUEST


def test_a_har_past_the_import_limit_is_refused(tmp_path, monkeypatch):
    from wsctl.cli.main import run
    from wsctl.cli.record import convert
    from wsctl.cli.support.env import Environment

    har = tmp_path / "big.har"
    har.write_text(json.dumps(_har()))
    monkeypatch.setattr(convert, "MAX_HAR_BYTES", 100)
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO())
    assert run(["record", "convert", str(har), "--to", "record"], env) == ExitCode.INVALID
    assert env.stderr.getvalue() == f"wsctl: error: {har}: larger than 100 bytes, too large for a HAR file\n"


# -- inventories and the known-devices file -------------------------------------------------


def test_an_inventory_whose_devices_is_not_a_table_is_one_line(tmp_path):
    (tmp_path / "inv.toml").write_text("devices = 5\n")
    line = one_error_line(wsctl("send", "plc-17", "--inventory", str(tmp_path / "inv.toml"), "--raw", "x", timeout=30))
    assert line.endswith("inv.toml: devices: expected a table of devices ([devices]), got int")


def test_an_empty_group_is_refused_not_run_on_nothing(tmp_path):
    (tmp_path / "inv.toml").write_text('[devices.a]\nurl = "wss://127.0.0.1:1/"\n[groups]\nline-1 = []\n')
    line = one_error_line(wsctl("send", "line-1", "--inventory", str(tmp_path / "inv.toml"), "--raw", "x", timeout=30))
    assert line.endswith("inv.toml: groups.line-1: an empty group (list at least one device)")


def _key(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


def test_a_known_devices_file_that_is_not_utf8_is_one_line(plant, echo, tmp_path):
    known = tmp_path / "known_devices"
    known.write_bytes(b"# \xff\xfe damaged\n")
    line = one_error_line(wsctl("send", echo.url, *plant.op(), "--known-devices", str(known), "--raw", "x", timeout=30))
    assert line.endswith(f"{known}: not UTF-8 text (invalid start byte at byte 2)")


def test_trust_new_takes_effect_over_duplicate_lines(plant, echo, tmp_path):
    known = tmp_path / "known_devices"
    key = _key(echo.url)
    stale_a, stale_b = "sha256:" + "aa" * 32, "sha256:" + "bb" * 32
    known.write_text(f"# plant\n{key} {stale_a}\nother:443 sha256:{'cc' * 32}\n{key} {stale_b}\n")
    send = ("send", echo.url, *plant.op(), "--known-devices", str(known), "--raw", "x")
    refused = wsctl(*send, timeout=30)
    assert refused.returncode == ExitCode.TLS and stale_b in refused.stderr  # the reader goes by the key's last line
    assert wsctl(*send, "--trust-new", timeout=30).returncode == 0
    lines = known.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["#", key, "other:443"]  # one line for the key, where it was
    again = wsctl(*send, timeout=30)
    assert again.returncode == 0, again.stderr  # before the fix: refused, the stale last line still won
