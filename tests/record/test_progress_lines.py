"""Long work shows a status line on a terminal (DESIGN.md §7): `record convert`
and `replay`, each on a real pty; never when stderr is not a terminal, with
--json or -v."""

from __future__ import annotations

import io
import os
from pathlib import Path

from pty_helpers import run_in_pty
from record_helpers import PASSWORD, wsctl

from wsctl.cli.support.progress import StatusLine
from wsctl.core.record.format import Event, Header, encode_event, encode_header


def recording(path: Path, sends: int, *, answers: bool = True) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://recorded/", started=1718000000.0)))
        f.write(encode_event(Event(t=0.0, kind="open", conn=1)))
        for n in range(sends):
            f.write(encode_event(Event(t=n * 0.001, kind="text", dir="out", conn=1, data=f'{{"id":{n}}}')))
            if answers:
                f.write(encode_event(Event(t=n * 0.001 + 0.0005, kind="text", dir="in", conn=1, data=f'{{"id":{n}}}')))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Env:
    def __init__(self, *, json=False, verbosity=0, stderr=None):
        self.json, self.verbosity, self.stderr = json, verbosity, stderr if stderr is not None else _Terminal()


def test_the_line_is_rewritten_at_most_every_interval_and_ends_with_its_last_state():
    clock = [0.0]
    env = _Env()
    line = StatusLine(env, clock=lambda: clock[0])
    line.show("1")
    clock[0] = 0.05
    line.show("2")  # held back: too soon
    clock[0] = 0.2
    line.show("3")
    line.show("4")
    line.done()
    assert env.stderr.getvalue() == "\r1\x1b[K\r3\x1b[K\r4\x1b[K\n"


def test_no_line_without_a_terminal_or_with_json_or_verbose():
    for env in (_Env(stderr=io.StringIO()), _Env(json=True), _Env(verbosity=1)):
        line = StatusLine(env)
        line.show("x", now=True)
        line.done("y")
        assert env.stderr.getvalue() == ""
    disabled = _Env()
    StatusLine(disabled, enabled=False).show("x", now=True)
    assert disabled.stderr.getvalue() == ""


def _env() -> dict[str, str]:
    return {**os.environ, "WSCTL_PASSWORD": PASSWORD, "TERM": "dumb"}


def test_convert_shows_its_progress_on_a_terminal_and_not_in_a_pipe(tmp_path):
    rec = tmp_path / "big.jsonl"
    recording(rec, 3000)
    code, seen = run_in_pty(["record", "convert", str(rec), "--to", "har", "-o", str(tmp_path / "a.har")], _env())
    assert code == 0, seen[-500:]
    assert b"\r" + str(rec).encode() + b": 6,001 events, 100 %" in seen
    assert (tmp_path / "a.har").stat().st_size > 0
    piped = wsctl("record", "convert", str(rec), "--to", "har", "-o", str(tmp_path / "b.har"))
    assert piped.returncode == 0 and "\r" not in piped.stderr and "%" not in piped.stderr


def test_replay_shows_how_many_were_sent_on_a_terminal(plant, echo, tmp_path):
    rec = tmp_path / "s.jsonl"
    recording(rec, 5)
    code, seen = run_in_pty(["replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "reply"], _env())
    assert code == 0, seen[-800:]
    assert b"replay [5/5 sent]" in seen
    quiet = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "reply")
    assert quiet.returncode == 0 and "sent]" not in quiet.stderr


def test_an_error_during_convert_starts_on_a_line_of_its_own(tmp_path):
    rec = tmp_path / "bad.jsonl"
    recording(rec, 500)
    with open(rec, "a", encoding="utf-8") as f:
        f.write("{not json\n")
        f.write(encode_event(Event(t=1.0, kind="text", dir="in", conn=1, data="after")))
    code, seen = run_in_pty(
        ["record", "convert", str(rec), "--to", "har", "--strict", "-o", str(tmp_path / "b.har")], _env()
    )
    assert code == 8, seen[-500:]
    assert b"\x1b[K\r\nwsctl: error" in seen or b"\x1b[K\nwsctl: error" in seen, seen[-300:]
