"""Replays against real wss devices: `wsctl serve --echo` processes and in-process
servers with real TLS (certificates from `wsctl certs`)."""

from __future__ import annotations

import functools
import json
import os
import re
import sys

import trio
import trio.testing
from record_helpers import PASSWORD, wsctl

from wsctl.core.exit_table import ExitCode
from wsctl.core.record.format import Event, Header, encode_event, encode_header
from wsctl.core.record.replay import build_plan
from wsctl.net.api import open_device
from wsctl.net.replayer import replay
from wsctl.net.server import echo_handler, serve


def write_recording(path, items, *, close_in=False):
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://recorded/", started=1718000000.0)))
        f.write(encode_event(Event(t=0.0, kind="open", conn=1)))
        for t, direction, data in items:
            f.write(
                encode_event(
                    Event(t=t, kind="text" if isinstance(data, str) else "binary", dir=direction, conn=1, data=data)
                )
            )
        if close_in:
            f.write(encode_event(Event(t=99, kind="close", dir="in", conn=1, code=1000)))


def test_recorded_session_replays_cleanly_against_the_device(plant, echo, tmp_path):
    rec = tmp_path / "s.jsonl"
    out = wsctl(
        "record",
        "capture",
        echo.url,
        "-o",
        str(rec),
        *plant.op(),
        "--send",
        '{"id":1,"cmd":"status"}',
        "--send",
        "plain",
        "--count",
        "2",
    )
    assert out.returncode == 0, out.stderr
    out = wsctl("--json", "replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "reply")
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] and result["sent"] == 2 and result["received"] == 2 and result["differences"] == []


def test_changed_answers_exit_7_with_a_readable_report(plant, echo, tmp_path):
    rec = tmp_path / "diff.jsonl"
    write_recording(
        rec,
        [
            (0.0, "out", '{"id":1,"speed":1200,"ts":"10:00"}'),
            (0.01, "in", '{"id":1,"speed":1100,"ts":"09:59"}'),
            (0.02, "out", "ok"),
            (0.03, "in", "ok"),
        ],
    )
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op())
    assert out.returncode == ExitCode.DEVICE_ERROR
    assert "answer 1 (after send 1" in out.stdout
    assert "/speed: recorded 1100, got 1200" in out.stdout and '/ts: recorded "09:59", got "10:00"' in out.stdout
    assert "answers differ from the recording" in out.stderr
    # the fields that always change are ignored; what is left matches... except speed
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--ignore", "/ts")
    assert out.returncode == ExitCode.DEVICE_ERROR and "/ts" not in out.stdout
    out = wsctl(
        "replay", str(rec), "--to", echo.url, *plant.op(), "--ignore", "/ts", "--ignore", "/speed", "--mode", "fast"
    )
    assert out.returncode == 0, out.stdout


def test_dry_run_prints_the_plan_without_connecting(tmp_path):
    rec = tmp_path / "p.jsonl"
    write_recording(rec, [(1.0, "out", "a"), (1.5, "in", "A"), (3.0, "out", b"\x01")])
    out = wsctl("--json", "replay", str(rec), "--dry-run", "--speed", "2", "--loop", "2", "--loop-delay", "1")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(x["index"], x["at"], x["type"]) for x in lines[:-1]] == [
        (1, 0.5, "text"),
        (2, 1.5, "binary"),
        (3, 3.0, "text"),
        (4, 4.0, "binary"),
    ]
    assert lines[-1] == {"event": "plan", "sends": 4, "expected": 2, "mode": "original"}
    assert wsctl("replay", str(rec)).returncode == ExitCode.USAGE  # no --to, no --dry-run


async def start_server(nursery, plant, handler):
    return await nursery.start(functools.partial(serve, handler, host="127.0.0.1", port=0, **plant.server_kwargs()))


async def test_device_closing_halfway_exits_10(plant, tmp_path):
    rec = tmp_path / "half.jsonl"
    # answers recorded: the reply mode has to wait for them, so the close lands mid-replay
    write_recording(
        rec, [item for i in range(6) for item in ((i * 0.01, "out", f"m{i}"), (i * 0.01 + 0.001, "in", f"m{i}"))]
    )

    async def closes_after_two(conn):
        for _ in range(2):
            await conn.send(await conn.receive())
        await conn.close(1011, "overheated")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, plant, closes_after_two)
        proc = await trio.run_process(
            [
                sys.executable,
                "-m",
                "wsctl",
                "replay",
                str(rec),
                "--to",
                f"wss://localhost:{server.port}/",
                *plant.op(),
                "--mode",
                "reply",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
        )
        nursery.cancel_scope.cancel()
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.CLOSED, err
    # the third send may cross the close frame on the wire
    assert re.search(r"device closed the connection with code 1011 after [23] of 6 sends", err), err


async def test_original_timing_is_kept_against_a_live_device(plant):
    items = [Event(t=0.0, kind="open", conn=1)]
    for i in range(25):
        items += [
            Event(t=0.2 + i * 0.04, kind="text", dir="out", conn=1, data=f"tick {i}"),
            Event(t=0.2 + i * 0.04 + 0.001, kind="text", dir="in", conn=1, data=f"tick {i}"),
        ]
    plan = build_plan(items)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, plant, echo_handler)
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            start = trio.current_time()
            result = await replay(dev, plan, reply_timeout=5)
        nursery.cancel_scope.cancel()
    assert result.complete and result.report.ok, result.report.lines()
    # kept = no send before its recorded time (a replayer that sent as fast as it could
    # fails this); how late sends are is the machine's speed: bench/bench_record.py measures it
    errors = result.timing_errors()
    assert len(errors) == 25 and min(errors) >= 0, errors
    assert result.sent[0].actual - start >= 0.19


async def test_reply_mode_waits_for_a_slow_device(plant):
    events = [
        Event(t=0.0, kind="text", dir="out", conn=1, data="a"),
        Event(t=0.001, kind="text", dir="in", conn=1, data="a"),
        Event(t=0.002, kind="text", dir="out", conn=1, data="b"),
        Event(t=0.003, kind="text", dir="in", conn=1, data="b"),
    ]

    async def slow_echo(conn):
        async for message in conn:
            await trio.sleep(0.3)
            await conn.send(message)

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, plant, slow_echo)
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            fast = await replay(dev, build_plan(events, mode="fast"), reply_timeout=5)
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            waited = await replay(dev, build_plan(events, mode="reply"), reply_timeout=5)
        nursery.cancel_scope.cancel()
    assert fast.sent[1].actual - fast.sent[0].actual < 0.1
    assert waited.sent[1].actual - waited.sent[0].actual >= 0.29
    assert fast.report.ok and waited.report.ok


def test_step_sends_one_message_per_enter(plant, echo, tmp_path):
    rec = tmp_path / "step.jsonl"
    write_recording(rec, [(0.0, "out", "one"), (0.1, "in", "one"), (5.0, "out", "two"), (5.1, "in", "two")])
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--step", input="\n\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[1/2] > one" in out.stderr and "[2/2] > two" in out.stderr
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--step", input="\n")
    assert out.returncode == ExitCode.USAGE and "stdin closed" in out.stderr


async def test_a_device_answering_out_of_order_still_matches(plant, tmp_path):
    async def reverse(conn):
        first, second = await conn.receive(), await conn.receive()
        for message in (second, first):
            await conn.send(json.dumps({"jsonrpc": "2.0", "id": json.loads(message)["id"], "result": "ok"}))
        await conn.receive()

    def rpc(rid):
        return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "m"})

    def res(rid):
        return json.dumps({"jsonrpc": "2.0", "id": rid, "result": "ok"})

    events = [Event(t=0.0, kind="open", conn=1)] + [
        Event(t=t, kind="text", dir=d, conn=1, data=m)
        for t, d, m in ((0.0, "out", rpc(1)), (0.01, "out", rpc(2)), (0.02, "in", res(1)), (0.03, "in", res(2)))
    ]
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, plant, reverse)
        async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
            result = await replay(dev, build_plan(events, mode="fast"), reply_timeout=5)
        nursery.cancel_scope.cancel()
    assert [json.loads(m)["id"] for _, m in result.received] == [2, 1]
    assert result.report.ok, result.report.lines()


def test_fast_mode_reports_no_send_timing(plant, echo, tmp_path):
    rec = tmp_path / "fast.jsonl"
    write_recording(rec, [(0.0, "out", "a"), (0.01, "in", "a"), (0.5, "out", "b"), (0.51, "in", "b")])
    out = wsctl("--json", "replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "fast")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["timing"] == {"p50_ms": None, "p99_ms": None, "max_ms": None}
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--mode", "fast")
    assert out.returncode == 0 and "p99" not in out.stdout, out.stdout
    out = wsctl("--json", "replay", str(rec), "--to", echo.url, *plant.op())
    assert json.loads(out.stdout)["timing"]["p99_ms"] is not None  # original mode keeps it


async def test_timing_error_includes_the_time_the_send_took():
    # a device whose send blocks (full socket buffer, slow TLS): waking up on
    # time is not sending on time
    class SlowDevice:
        async def send(self, message):
            await trio.sleep(0.05)

        async def receive(self, timeout=None):
            await trio.sleep_forever()

    events = [
        Event(t=0.0, kind="open", conn=1),
        Event(t=0.0, kind="text", dir="out", conn=1, data="a"),
        Event(t=0.2, kind="text", dir="out", conn=1, data="b"),
    ]
    result = await replay(SlowDevice(), build_plan(events), reply_timeout=0.1)
    assert len(result.sent) == 2
    for sent in result.sent:
        assert sent.actual - sent.woke >= 0.045 and sent.error >= 0.045, sent
    assert all(e >= 0.045 for e in result.timing_errors())


def test_a_send_waits_for_its_deadline_by_yielding_not_by_an_epoll_rounded_sleep():
    # epoll_wait's timeout is whole milliseconds rounded up: the last stretch
    # before a send is due is spent yielding, checked against a clock that
    # only moves when the test says so
    from wsctl.net.replayer import SPIN, until

    clock = trio.testing.MockClock()
    woke = []

    async def waiter(due):
        await until(due)
        woke.append(trio.current_time())

    async def drive():
        due = trio.current_time() + 1.0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter, due)
            clock.jump(1.0 - SPIN / 2)  # inside the last stretch: the sleep is over, the yielding not
            for _ in range(50):
                await trio.sleep(0)
            assert woke == []
            clock.jump(SPIN)
        assert woke and woke[0] >= due

    trio.run(drive, clock=clock)


def test_step_prompts_are_json_lines_under_json(plant, echo, tmp_path):
    rec = tmp_path / "step.jsonl"
    write_recording(rec, [(0.0, "out", "one"), (0.1, "in", "one"), (5.0, "out", b"\x00\x01"), (5.1, "in", b"\x00\x01")])
    out = wsctl("--json", "replay", str(rec), "--to", echo.url, *plant.op(), "--step", input="\n\n")
    assert out.returncode == 0, out.stdout + out.stderr
    steps = [json.loads(line) for line in out.stderr.splitlines()]
    assert steps == [
        {"event": "step", "index": 1, "total": 2, "type": "text", "data": "one"},
        {"event": "step", "index": 2, "total": 2, "type": "binary", "data": "AAE="},
    ]
    out = wsctl("--json", "replay", str(rec), "--to", echo.url, *plant.op(), "--step", input="")
    assert out.returncode == ExitCode.USAGE
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert lines[0]["event"] == "step" and lines[-1]["error"] == "usage" and "stdin closed" in lines[-1]["message"]


def test_step_prompts_end_their_line_when_no_terminal_echoes_the_enter(plant, echo, tmp_path):
    rec = tmp_path / "step.jsonl"
    write_recording(rec, [(0.0, "out", "one"), (0.1, "in", "one"), (5.0, "out", "two"), (5.1, "in", "two")])
    out = wsctl("replay", str(rec), "--to", echo.url, *plant.op(), "--step", input="\n")
    assert out.returncode == ExitCode.USAGE
    lines = out.stderr.splitlines()
    assert lines[0].startswith("[1/2] > one") and lines[1].startswith("[2/2] > two")
    assert lines[2].startswith("wsctl: error:") and "stdin closed" in lines[2]
