"""`wsctl record` with the global flags before its verb: `-q`, `-v` and
`--json` work before or after a verb, so they must not hide the verb from the
routing that inserts `capture` or `proxy` when none is given."""

from __future__ import annotations

import json

from cli_runner import run_in_process

from wsctl.cli.record import route


def test_global_flags_before_the_verb_leave_it_found():
    assert route(["-q", "show", "f"]) == ["-q", "show", "f"]
    assert route(["--json", "-vv", "convert", "f", "--to", "har"]) == ["--json", "-vv", "convert", "f", "--to", "har"]
    assert route(["-q", "plc-17", "-o", "f"]) == ["-q", "capture", "plc-17", "-o", "f"]
    assert route(["--json", "--listen", "h:1", "--upstream", "d"])[:2] == ["--json", "proxy"]
    assert route(["-q"]) == ["-q"] and route(["-v", "--help"]) == ["-v", "--help"]
    assert route(["-vq", "show", "f"]) == ["-vq", "show", "f"]


def test_record_show_with_json_before_the_verb(tmp_path):
    recording = tmp_path / "r.jsonl"
    header = {"format": "wsctl-record/1", "wsctl": "0.1.0", "url": "wss://h/", "subprotocol": None,
              "profile": None, "fingerprints": {"tool": None, "device": None}, "started": 1718000000.0,
              "source": "client", "part": 0}  # fmt: skip
    events = [
        {"t": 0.0, "wall": 1718000000.0, "conn": 1, "kind": "open", "url": "wss://h/", "subprotocol": None},
        {"t": 0.1, "wall": 1718000000.1, "conn": 1, "dir": "in", "kind": "text", "data": "hi"},
    ]
    recording.write_text("".join(json.dumps(line) + "\n" for line in [header, *events]))
    shown = run_in_process("record", "--json", "show", str(recording))
    assert shown.returncode == 0, shown.stderr
    assert any(json.loads(line).get("data") == "hi" for line in shown.stdout.splitlines() if line.strip()), shown.stdout
    quiet = run_in_process("record", "-q", "show", str(recording))
    assert quiet.returncode == 0, quiet.stderr
