"""`wsctl replay --junit`: one JUnit test case per send, failing with the differences of its answers."""

from __future__ import annotations

from pathlib import Path

import junitparser
from junit_xsd import validate
from record_helpers import wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record.format import Event, Header, encode_event, encode_header


def recording(path: Path, items) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://recorded/", started=1718000000.0)))
        f.write(encode_event(Event(t=0.0, kind="open", conn=1)))
        for t, direction, data in items:
            f.write(encode_event(Event(t=t, kind="text", dir=direction, conn=1, data=data)))


def cases(path: Path) -> list:
    validate(path)
    [suite] = list(junitparser.JUnitXml.fromfile(str(path)))
    return list(suite)


def test_one_case_per_send_with_the_differences_of_its_answers(plant, echo, tmp_path):
    rec = tmp_path / "s.jsonl"
    # an echo device answers each send with itself: the second answer was recorded differently
    recording(
        rec,
        [
            (0.0, "out", '{"id":1,"cmd":"status"}'),
            (0.01, "in", '{"id":1,"cmd":"status"}'),
            (0.02, "out", '{"id":2,"speed":1200}'),
            (0.03, "in", '{"id":2,"speed":1100}'),
        ],
    )
    report = tmp_path / "replay.xml"
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "reply", "--junit", str(report))
    assert out.returncode == ExitCode.DEVICE_ERROR, out.stdout + out.stderr
    first, second = cases(report)
    assert first.name == 'send 1: {"id":1,"cmd":"status"}' and first.is_passed
    [failure] = second.result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message.startswith("1 answer(s) differs: answer 2 (after send 2")
    assert "/speed: recorded 1100, got 1200" in failure.text
    out = wsctl(
        "replay",
        str(rec),
        "--to",
        echo.url,
        *plant.op(),
        "--mode",
        "reply",
        "--ignore",
        "/speed",
        "--junit",
        str(report),
    )
    assert out.returncode == 0 and all(c.is_passed for c in cases(report))


def test_sends_that_never_went_out_error_and_unrecorded_answers_get_a_case():
    from wsctl.core.record.compare import compare
    from wsctl.core.record.replay import Plan, Send
    from wsctl.core.record.verdicts import replay_cases

    sends = tuple(Send(i, 0, f"m{i}", 0.0, "start", 1, 0.0) for i in range(3))
    plan = Plan("fast", sends, ("hello", "a0", "a1", "a2"), (-1, 0, 1, 2))
    report = compare(plan.expected, ["hello", "a0", "a1", "surprise"])
    found = replay_cases(plan, report, 2, "replay s.jsonl", closed="the device closed the connection after 2 sends")
    assert [c.name for c in found] == ["answers before the first send", "send 1: m0", "send 2: m1", "send 3: m2"]
    assert [c.outcome for c in found] == ["pass", "pass", "pass", "error"]
    assert found[3].message == "not sent: the device closed the connection after 2 sends"
    # everything sent, one answer nobody recorded
    report = compare(plan.expected, ["hello", "a0", "a1", "a2", "extra"])
    found = replay_cases(plan, report, 3, "replay s.jsonl")
    assert (
        found[-1].name == "answers nobody recorded" and found[-1].outcome == "failure" and '"extra"' in found[-1].detail
    )
