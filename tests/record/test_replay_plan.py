"""The replay scheduler and the answer comparison, as pure functions (fake clock)."""

from __future__ import annotations

import json

import pytest

from wsctl.core.errors import UsageError
from wsctl.core.record.compare import Ignore, compare
from wsctl.core.record.format import Event
from wsctl.core.record.replay import build_plan, deadline


def session(*items):
    """(t, dir, data) triples → events of one connection, opened at t=0."""
    out = [Event(t=0.0, kind="open", conn=1)]
    for t, direction, data in items:
        out.append(Event(t=t, kind="text" if isinstance(data, str) else "binary", dir=direction, conn=1, data=data))
    return out


RECORDING = session(
    (0.5, "in", "hello"),  # greeting before any send
    (1.0, "out", "a"),
    (1.1, "in", "A"),
    (3.0, "out", "b"),
    (3.2, "in", "B1"),
    (3.3, "in", "B2"),
    (3.5, "out", "c"),
)


def run_fake_clock(plan, reply_latency=0.05, start=100.0):
    """Drive the plan like the replayer does, on a fake clock: returns send times."""
    now, reply_at, times = start, None, []
    for send in plan.sends:
        now = max(now, deadline(send, start=start, reply_at=reply_at))
        times.append(round(now - start, 6))
        if send.expect:
            now += reply_latency
        reply_at = now
    return times


def test_original_mode_keeps_the_recorded_gaps():
    plan = build_plan(RECORDING)
    assert [s.message for s in plan.sends] == ["a", "b", "c"]
    assert [s.at for s in plan.sends] == pytest.approx([1.0, 3.0, 3.5])
    assert {s.anchor for s in plan.sends} == {"start"}
    assert run_fake_clock(plan) == pytest.approx([1.0, 3.0, 3.5])


def test_speed_and_max_delay_scale_and_cap_each_gap():
    plan = build_plan(RECORDING, speed=2.0, max_delay=0.6)
    # gaps 1.0, 2.0, 0.5 -> halved 0.5, 1.0, 0.25 -> capped 0.5, 0.6, 0.25
    assert [s.at for s in plan.sends] == pytest.approx([0.5, 1.1, 1.35])


def test_fast_mode_sends_everything_at_once():
    plan = build_plan(RECORDING, mode="fast")
    assert [s.at for s in plan.sends] == [0.0, 0.0, 0.0]
    assert run_fake_clock(plan, reply_latency=0) == [0.0, 0.0, 0.0]


def test_reply_mode_waits_for_the_answers_then_the_think_time():
    plan = build_plan(RECORDING, mode="reply")
    assert [(s.anchor, round(s.at, 6), s.expect) for s in plan.sends] == [
        ("start", 1.0, 1),  # as recorded after connecting
        ("reply", 1.9, 2),  # A came at 1.1, b was sent at 3.0
        ("reply", 0.2, 0),  # B2 at 3.3, c at 3.5
    ]
    # a slow device (0.5 s per reply) pushes every later send back
    assert run_fake_clock(plan, reply_latency=0.5) == pytest.approx([1.0, 1.0 + 0.5 + 1.9, 1.0 + 0.5 + 1.9 + 0.5 + 0.2])


def test_loops_repeat_sends_and_answers_with_the_loop_delay():
    plan = build_plan(RECORDING, loop=3, loop_delay=2.0)
    assert [s.message for s in plan.sends] == ["a", "b", "c"] * 3
    assert [s.at for s in plan.sends] == pytest.approx([1.0, 3.0, 3.5, 6.5, 8.5, 9.0, 12.0, 14.0, 14.5])
    assert plan.expected == ("hello", "A", "B1", "B2", "A", "B1", "B2", "A", "B1", "B2")  # the greeting once
    assert plan.after_send == (-1, 0, 1, 1, 3, 4, 4, 6, 7, 7)
    fast = build_plan(RECORDING, mode="fast", loop=2, loop_delay=1.5)
    assert [s.at for s in fast.sends] == [0, 0, 0, 1.5, 1.5, 1.5]
    reply = build_plan(RECORDING, mode="reply", loop=2, loop_delay=1.5)
    assert (reply.sends[3].anchor, reply.sends[3].at) == ("reply", 1.5)


def test_one_connection_can_be_picked():
    events = RECORDING + [Event(t=5.0, kind="text", dir="out", conn=2, data="other")]
    assert [s.message for s in build_plan(events, conn=2).sends] == ["other"]
    assert [s.message for s in build_plan(events).sends] == ["a", "b", "c", "other"]


@pytest.mark.parametrize("kwargs", [{"mode": "warp"}, {"speed": 0}, {"loop": 0}, {"max_delay": -1}, {"loop_delay": -1}])
def test_bad_options_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        build_plan(RECORDING, **kwargs)


def test_device_close_in_recording_is_noted():
    assert not build_plan(RECORDING).device_closed
    assert build_plan(RECORDING + [Event(t=9, kind="close", dir="in", conn=1, code=1000)]).device_closed


# -- comparison ----------------------------------------------------------------


def rpc(id, **result):
    return json.dumps({"jsonrpc": "2.0", "id": id, "result": result})


def test_equal_answers_match_regardless_of_json_spacing_and_key_order():
    report = compare(['{"a": 1, "b": [1, 2]}', "plain", b"\x00\x01"], ['{"b":[1,2],"a":1}', "plain", b"\x00\x01"])
    assert report.ok and report.summary().endswith("answers match the recording")


def test_changed_field_is_reported_by_pointer():
    report = compare([rpc(1, speed=1200, state="running")], [rpc(1, speed=1100, state="running")])
    assert not report.ok
    (diff,) = report.differences
    assert diff.kind == "differs" and diff.paths == (("/result/speed", 1200, 1100),)
    text = "\n".join(report.lines(context=["send 1 'set_speed'"]))
    assert "answer 1 (after send 1 'set_speed'): differs" in text
    assert "/result/speed: recorded 1200, got 1100" in text
    assert "1 differ, 0 missing, 0 unexpected" in text


def test_ignore_rules_hide_fields_that_always_change():
    recorded = [json.dumps({"id": 1, "params": {"timestamp": "2024-01-01T00:00:00Z", "v": 1}})]
    got = [json.dumps({"id": 9, "params": {"timestamp": "2025-06-01T10:00:00Z", "v": 1}})]
    assert not compare(recorded, got).ok
    assert compare(recorded, got, Ignore(["/id", "/params/timestamp"])).ok
    assert compare(recorded, got, Ignore(["/id", r"re:\d{4}-\d\d-\d\dT[\d:]+Z"])).ok
    assert compare(["seq=17 ok"], ["seq=99 ok"], Ignore([r"re:seq=(\d+)"])).ok
    assert not compare(["seq=17 ok"], ["seq=99 FAIL"], Ignore([r"re:seq=(\d+)"])).ok


def test_a_missing_answer_does_not_shift_every_later_one():
    recorded = ["a", "b", "c", "d"]
    report = compare(recorded, ["a", "c", "d", "e"])
    assert [(d.kind, d.expected_index, d.received_index) for d in report.differences] == [
        ("missing", 1, None),
        ("unexpected", None, 3),
    ]


def test_text_and_binary_differences_show_whole_messages():
    report = compare(["ready"], [b"\x01\x02"])
    assert report.differences[0].paths[0][0] == "(whole message)"
    assert "<binary 2 bytes>" in "\n".join(report.lines())


def test_answers_with_ids_are_paired_by_id_not_position():
    recorded = [rpc(1, state="running"), '{"jsonrpc":"2.0","method":"telemetry","params":{"v":1}}', rpc(2, speed=1200)]
    got = [rpc(2, speed=1200), '{"jsonrpc":"2.0","method":"telemetry","params":{"v":1}}', rpc(1, state="running")]
    assert compare(recorded, got).ok
    assert not compare(recorded, got, id_pointers=None).ok  # strictly in order, as before
    report = compare(recorded, [rpc(2, speed=900), rpc(1, state="running")])
    assert [(d.kind, d.expected_index, d.received_index) for d in report.differences] == [
        ("missing", 1, None),
        ("differs", 2, 0),
    ]
    assert report.differences[1].paths == (("/result/speed", 1200, 900),)
    # 1 and "1" are different ids; OCPP-style ids by the profile's pointer
    assert not compare([rpc(1, a=1), rpc("1", a=2)], [rpc("1", a=1), rpc(1, a=2)]).ok
    assert compare(['[3,"b",{}]', '[3,"a",{"x":1}]'], ['[3,"a",{"x":1}]', '[3,"b",{}]'], id_pointers=("/1",)).ok


def test_many_repetitive_answers_are_aligned_in_bounded_work(monkeypatch):
    """Telemetry answers all alike: one missing in the middle is one missing
    answer (the common start and end are set aside before any diff); past
    MAX_ALIGN the middle is paired by position (SequenceMatcher is about cubic
    on repetitive answers: 2,000 took 78 s)."""
    import wsctl.core.record.compare as cmp

    recorded = ['{"t": 1}'] * 1500 + ['{"t": 2}'] + ['{"t": 1}'] * 1500
    report = compare(recorded, ['{"t": 1}'] * 3000)
    assert [(d.kind, d.expected_index) for d in report.differences] == [("missing", 1500)]
    monkeypatch.setattr(cmp, "MAX_ALIGN", 0)
    report = compare(["a", "x", "y", "b"], ["a", "q", "b"])
    assert sorted(d.kind for d in report.differences) == ["differs", "missing"]


@pytest.mark.parametrize("limit", [0, 250_000])
def test_the_bounded_alignment_tiles_both_sides(monkeypatch, limit):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import wsctl.core.record.compare as cmp

    monkeypatch.setattr(cmp, "MAX_ALIGN", limit)

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from("abc"), max_size=12), st.lists(st.sampled_from("abc"), max_size=12))
    def check(a, b):
        ops = cmp._opcodes(a, b)
        i = j = 0
        for op, i1, i2, j1, j2 in ops:
            assert (i1, j1) == (i, j)
            if op == "equal":
                assert a[i1:i2] == b[j1:j2]
            i, j = i2, j2
        assert (i, j) == (len(a), len(b))

    check()
