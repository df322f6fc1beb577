"""The mock-device matcher (`serve --replay`), as pure functions."""

from __future__ import annotations

import json

from wsctl.core.record.compare import Ignore
from wsctl.core.record.format import Event
from wsctl.core.record.mock import MockMatcher, MockScript
from wsctl.files.profiles import load_profile


def req(id, method, **params):
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def res(id, **result):
    return json.dumps({"jsonrpc": "2.0", "id": id, "result": result})


def note(**params):
    return json.dumps({"jsonrpc": "2.0", "method": "conveyor.telemetry", "params": params})


def events(*items, conn=1):
    out = [Event(t=0.0, kind="open", conn=conn)]
    for t, direction, data in items:
        out.append(Event(t=t, kind="text", dir=direction, conn=conn, data=data))
    return out


RECORDING = events(
    (0.2, "in", note(speed=0)),
    (1.0, "out", req(1, "conveyor.status")),
    (1.05, "in", res(1, state="stopped")),
    (2.0, "out", req(2, "conveyor.set_speed", speed=1200)),
    (2.1, "in", note(speed=600)),
    (2.3, "in", res(2, speed=1200)),
    (3.0, "out", req(3, "conveyor.status")),
    (3.02, "in", res(3, state="running")),
)


def test_without_profile_replies_are_what_followed_each_request():
    script = MockScript.from_events(RECORDING)
    assert [u.message for u in script.unsolicited] == [note(speed=0)]
    assert script.unsolicited[0].at == 0.2
    assert [len(e.replies) for e in script.exchanges] == [1, 2, 1]
    assert [round(r.delay, 3) for r in script.exchanges[1].replies] == [0.1, 0.3]


def test_with_profile_telemetry_is_unsolicited_wherever_it_occurs():
    script = MockScript.from_events(RECORDING, profile=load_profile("conveyor"))
    assert [u.message for u in script.unsolicited] == [note(speed=0), note(speed=600)]
    assert [u.at for u in script.unsolicited] == [0.2, 2.1]
    assert [r.message for r in script.exchanges[1].replies] == [res(2, speed=1200)]


def test_exact_match_then_turns_through_repeated_requests():
    matcher = MockMatcher(MockScript.from_events(RECORDING))
    match = matcher.match(req(2, "conveyor.set_speed", speed=1200))
    assert match.how == "exact" and match.replies[-1].message == res(2, speed=1200)
    assert matcher.match(req(1, "conveyor.status")).replies[0].message == res(1, state="stopped")
    # same request again (exact text of request 1): still the first recording of it, then around
    assert matcher.match(req(1, "conveyor.status")).replies[0].message == res(1, state="stopped")


def test_ignore_rules_match_other_ids_and_renumber_the_reply():
    matcher = MockMatcher(MockScript.from_events(RECORDING), ignore=Ignore(["/id"]))
    first = matcher.match(req(41, "conveyor.status"))
    second = matcher.match(req(42, "conveyor.status"))
    third = matcher.match(req(43, "conveyor.status"))
    assert first.how == "ignore"
    assert [json.loads(m.replies[0].message) for m in (first, second, third)] == [
        {"jsonrpc": "2.0", "id": 41, "result": {"state": "stopped"}},
        {"jsonrpc": "2.0", "id": 42, "result": {"state": "running"}},
        {"jsonrpc": "2.0", "id": 43, "result": {"state": "stopped"}},  # starts over
    ]


def test_profile_matches_by_command_and_parameters():
    profile = load_profile("conveyor")
    matcher = MockMatcher(MockScript.from_events(RECORDING, profile=profile))
    # another id and another key order: not exact, no ignore rules, same command + params
    got = matcher.match(
        json.dumps({"params": {"speed": 1200}, "method": "conveyor.set_speed", "id": "x-7", "jsonrpc": "2.0"})
    )
    assert got.how == "profile"
    assert json.loads(got.replies[0].message)["id"] == "x-7"
    assert matcher.match(req(8, "conveyor.set_speed", speed=900)) is None  # other parameters: not the same request


def test_unmatched_request_gets_the_protocols_error_form_with_a_profile():
    profile = load_profile("conveyor")
    matcher = MockMatcher(MockScript.from_events(RECORDING, profile=profile))
    error = json.loads(matcher.unmatched_reply(req(5, "conveyor.estop")))
    assert error["id"] == 5 and error["error"]["code"] == -32601 and "not in the recording" in error["error"]["message"]
    assert MockMatcher(MockScript.from_events(RECORDING)).unmatched_reply(req(5, "x")) is None


def test_ocpp_array_ids_are_renumbered_too():
    rec = events(
        (1.0, "out", '[2,"a1","Heartbeat",{}]'), (1.1, "in", '[3,"a1",{"currentTime":"2024-01-01T00:00:00Z"}]')
    )
    matcher = MockMatcher(MockScript.from_events(rec), ignore=Ignore(["/1"]))
    reply = matcher.match('[2,"zz9","Heartbeat",{}]').replies[0].message
    assert json.loads(reply)[1] == "zz9"


def test_the_first_connection_with_messages_is_used_by_default():
    rec = events((0.5, "out", "ping?"), conn=3) + events((0.7, "out", "other"), conn=4)
    script = MockScript.from_events(rec)
    assert script.conn == 3 and [e.request for e in script.exchanges] == ["ping?"]


def test_a_repeated_request_takes_its_turn_across_match_kinds():
    # status recorded three times: stopped, running, running
    rec = events(
        (1.0, "out", req(1, "conveyor.status")),
        (1.05, "in", res(1, state="stopped")),
        (2.0, "out", req(2, "conveyor.status")),
        (2.05, "in", res(2, state="running")),
        (3.0, "out", req(3, "conveyor.status")),
        (3.05, "in", res(3, state="running")),
    )
    matcher = MockMatcher(MockScript.from_events(rec, profile=load_profile("conveyor")))
    got = [matcher.match(req(rid, "conveyor.status")) for rid in (1, 50, 51, 52)]
    assert [m.how for m in got] == ["exact", "profile", "profile", "profile"]
    answers = [json.loads(m.replies[0].message) for m in got]
    assert [a["result"]["state"] for a in answers] == ["stopped", "running", "running", "stopped"]  # then around
    assert [a["id"] for a in answers] == [1, 50, 51, 52]
    # the same exact request again later answers in turn too, not always with its own recording
    again = MockMatcher(MockScript.from_events(rec, profile=load_profile("conveyor")))
    states = [json.loads(again.match(req(1, "conveyor.status")).replies[0].message) for _ in range(3)]
    assert [s["result"]["state"] for s in states] == ["stopped", "running", "running"] and {
        s["id"] for s in states
    } == {1}


def test_the_greeting_is_timed_from_its_own_connections_open():
    """Connection 1 opened at t=0 and sent nothing; connection 2 opened at
    3000 s and greeted 0.2 s later: the mock (conn not named) serves connection
    2 and greets 0.2 s after a client connects, not 3000.2 s."""
    events = [
        Event(t=0.0, kind="open", conn=1, info={}),
        Event(t=3000.0, kind="open", conn=2, info={}),
        Event(t=3000.2, kind="text", dir="in", conn=2, data="hello"),
    ]
    script = MockScript.from_events(events)
    assert script.conn == 2
    assert [(round(u.at, 6), u.message) for u in script.unsolicited] == [(0.2, "hello")]
