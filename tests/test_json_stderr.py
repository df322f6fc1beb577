"""Under --json every stderr line is a JSON object: the verbs' own warnings and
notes (not only the log records and the final error), and an error found
before the top-level flags were read (a config file that is not TOML)."""

from __future__ import annotations

import json
import os

from cli_runner import run_in_process


def _all_json(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return [json.loads(line) for line in lines]


def _recording(path) -> None:
    header = {"format": "wsctl-record/1", "wsctl": "0.1.0", "url": "wss://h/", "subprotocol": None, "profile": None,
              "fingerprints": {"tool": None, "device": None}, "started": 1718000000.0, "source": "client", "part": 0}  # fmt: skip
    lines = [
        json.dumps(header),
        json.dumps({"t": 0.0, "wall": 1718000000.0, "conn": 1, "kind": "open", "url": "wss://h/"}),
        json.dumps({"t": 0.1, "wall": 1718000000.1, "conn": 1, "dir": "in", "kind": "binary", "b64": "***"}),
    ]
    path.write_text("\n".join(lines) + "\n")


def test_a_verbs_own_warning_is_a_json_line(tmp_path):
    recording = tmp_path / "r.jsonl"
    _recording(recording)
    shown = run_in_process("--json", "record", "show", str(recording))
    warnings = [w for w in _all_json(shown.stderr) if w.get("level") == "warning"]
    assert warnings and "not valid base64" in warnings[0]["message"] and warnings[0]["event"] == "log"


def test_debug_lines_are_json_lines(tmp_path):
    out = run_in_process("--json", "-v", "exit-codes", environ={**os.environ, "WSCTL_PASSWORD": "x"})
    assert out.returncode == 0
    debug = [d for d in _all_json(out.stderr) if d.get("level") == "debug"]
    assert any("WSCTL_PASSWORD" in d["message"] for d in debug)


def test_a_config_error_before_the_flags_is_the_error_object(tmp_path):
    config = tmp_path / "wsctl.toml"
    config.write_text("this is = = not toml")
    out = run_in_process("--json", "exit-codes", environ={"WSCTL_CONFIG": str(config)})
    assert out.returncode == 8
    (error,) = _all_json(out.stderr)
    assert error["exit_code"] == 8 and "not valid TOML" in error["message"]
