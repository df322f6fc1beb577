"""`wsctl replay FILE --to A,B`: one recording replayed to several devices side
by side, against real `wsctl serve --echo` processes and a closed port."""

from __future__ import annotations

import json
import socket

import junitparser
import pytest
from record_helpers import echo_server, wsctl

from wsctl.core.record.format import Event, Header, encode_event, encode_header


def recording(path, items) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://recorded/", started=1718000000.0)))
        f.write(encode_event(Event(t=0.0, kind="open", conn=1)))
        for t, direction, data in items:
            f.write(encode_event(Event(t=t, kind="text", dir=direction, conn=1, data=data)))


ECHOED = [(0.0, "out", '{"id":1,"cmd":"status"}'), (0.01, "in", '{"id":1,"cmd":"status"}')]
DIFFERS = [*ECHOED, (0.02, "out", '{"id":2,"speed":1200}'), (0.03, "in", '{"id":2,"speed":1100}')]


@pytest.fixture(scope="module")
def echoes(plant):
    servers = [echo_server(plant) for _ in range(2)]
    yield [s.url for s in servers]
    for s in servers:
        s.kill()


def test_every_device_is_replayed_to_and_judged(plant, echoes, tmp_path):
    rec = tmp_path / "s.jsonl"
    recording(rec, ECHOED)
    out = wsctl("--json", "replay", str(rec), "--to", ",".join(echoes), *plant.op(), "--mode", "reply")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["device"] for r in lines) == sorted(echoes)
    assert all(r["event"] == "replay" and r["ok"] and r["sent"] == 1 for r in lines)


def test_differences_fail_each_device_with_its_own_report(plant, echoes, tmp_path):
    rec, report = tmp_path / "s.jsonl", tmp_path / "r.xml"
    recording(rec, DIFFERS)
    out = wsctl("replay", str(rec), "--to", ",".join(echoes), *plant.op(), "--mode", "reply", "--junit", str(report))
    assert out.returncode == 7, out.stdout + out.stderr
    for url in echoes:
        assert f"{url}: FAIL: answers differ from the recording" in out.stdout
        assert f"{url}: sent 2 of 2 messages" in out.stdout
    [suite] = list(junitparser.JUnitXml.fromfile(str(report)))
    by_device = {}
    for case in suite:
        by_device.setdefault(case.classname, []).append(case)
    assert set(by_device) == set(echoes)
    assert all(any(not c.is_passed for c in cases) for cases in by_device.values())


def test_a_device_that_cannot_be_reached_does_not_stop_the_others(plant, echoes, tmp_path):
    rec = tmp_path / "s.jsonl"
    recording(rec, ECHOED)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        gone = f"wss://127.0.0.1:{sock.getsockname()[1]}/"
    out = wsctl("replay", str(rec), "--to", f"{echoes[0]},{gone}", *plant.op(), "--mode", "reply")
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"{echoes[0]}: sent 1 of 1 message" in out.stdout


def test_step_is_for_one_device(plant, echoes, tmp_path):
    rec = tmp_path / "s.jsonl"
    recording(rec, ECHOED)
    out = wsctl("replay", str(rec), "--to", ",".join(echoes), *plant.op(), "--step")
    assert out.returncode == 2 and "--step replays to one device" in out.stderr, out.stderr
