"""The recorder's batched message path: a message waits in the batch as a tuple
and its line is encoded when the batch is written.  Same bytes as one line at a
time, rotation decided line by line inside a batch, nothing lost or repeated
when the flusher thread writes while messages keep coming, nothing stranded, and
a recording made through a real connection's taps."""

from __future__ import annotations

import functools
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from wsctl.core.record.format import Event, encode_event, encode_message, encode_messages, message_head
from wsctl.core.record.reader import RecordReader
from wsctl.files.recording_reader import open_recording, part_paths
from wsctl.net.recorder import Recorder


class MemoryFile(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, data):
        self.buf += data
        return len(data)


def one_line_at_a_time(t: float, wall: float, conn: int, direction: str, message: str | bytes) -> bytes:
    """The line the recorder wrote for a message before batches were encoded whole."""
    try:
        return encode_message(t, wall, conn, direction, message).encode("utf-8")
    except UnicodeEncodeError:
        kind = "text" if isinstance(message, str) else "binary"
        event = Event(t=t, kind=kind, dir=direction, conn=conn, wall=wall, data=message)
        return encode_event(event).encode("utf-8")


def random_messages(rng: random.Random, count: int) -> list:
    texts = ["", "plain", 'ünï\r\n🤖 "q" \\ \t\x00\x1f', '{"jsonrpc":"2.0","params":{"speed":1200}}', "\ud800 lone"]
    out = []
    for _ in range(count):
        message = rng.choice(texts) if rng.random() < 0.7 else rng.randbytes(rng.randrange(0, 40))
        out.append((rng.choice(("in", "out")), rng.randint(1, 3), message))
    return out


def random_walls(rng: random.Random, start: float, count: int) -> list[float]:
    """Epoch times as a recorder reads them: rising by microseconds to seconds,
    now and then stepped back (NTP) or exactly on a tie of the 6th decimal."""
    walls, wall = [], start
    for _ in range(count):
        step = rng.random()
        if step < 0.8:
            wall += rng.uniform(0, 0.003)
        elif step < 0.9:
            wall += rng.uniform(-3, 40)
        else:
            wall = float(int(wall)) + rng.choice([0.0078125, 0.5, 0.9999995, 0.0])
        walls.append(wall)
    return walls


@pytest.mark.parametrize("seed", range(8))
def test_a_batch_is_the_same_bytes_as_one_line_at_a_time(seed):
    rng = random.Random(seed)
    # walls near now, just below a multiple of 100 s, near the format's limit and
    # small (injected clocks); monotonic times from 0 to days
    start = [time.time(), 1_700_000_099.9, 1_700_000_000.0, 9_999_990_000.5, 1234.5, 150.0, time.time(), 1e9][seed]
    messages = random_messages(rng, 600)
    clocks = [rng.uniform(0, 200_000) for _ in messages]
    walls = random_walls(rng, start, len(messages))
    ticks, stamps = iter([5.0, *clocks]), iter([start, *walls])  # the first of each: the header's t0 and start
    file = MemoryFile()
    batch = rng.choice([512, 4096, 16384])  # batches of a few to ~100 messages
    with Recorder(
        "mem", opener=lambda name: file, clock=lambda: next(ticks), wall=lambda: next(stamps), batch_bytes=batch
    ) as rec:
        for direction, conn, message in messages:
            rec.message(direction, conn, message)
    lines = file.buf.splitlines(keepends=True)
    want = [
        one_line_at_a_time(clock - 5.0, wall, conn, direction, message)
        for (direction, conn, message), clock, wall in zip(messages, clocks, walls, strict=True)
    ]
    assert lines[1:] == want
    events = list(RecordReader([line.decode() for line in lines], strict=True))
    assert [(e.dir, e.conn, e.data) for e in events] == messages


def test_the_batch_encoder_falls_back_where_the_shortcut_does_not_hold():
    head = message_head(1, "in", False)
    for walls in ([1e9 + 99.9, 1e9 + 100.1], [150.0, 151.0], [1e9, float("nan")], [1e9, float("inf")], [1e9 + 0.5]):
        batch = [(2.0, wall, head, "x") for wall in walls]
        assert encode_messages(batch, 0.5) == [encode_message(1.5, wall, 1, "in", "x") for wall in walls]


def test_rotation_inside_one_batch_splits_where_one_line_at_a_time_did(tmp_path):
    rng = random.Random(7)
    messages = [("in", 1, f"telemetry {i:04d} " + "x" * rng.randrange(0, 120)) for i in range(300)]

    def record(path, **kw):
        clock, wall = iter(i * 0.001 for i in range(10**6)), iter(1.7e9 + i * 0.001 for i in range(10**6))
        with Recorder(path, max_size=2000, clock=lambda: next(clock), wall=lambda: next(wall), **kw) as rec:
            for direction, conn, message in messages:
                rec.message(direction, conn, message)
        return part_paths(path)

    batched = record(tmp_path / "batched.jsonl", flush_interval=60)  # one batch: the close encodes it
    at_once = record(tmp_path / "at-once.jsonl", batch_bytes=0)  # every message written as it comes
    assert len(batched) == len(at_once) > 5
    for one, other in zip(batched, at_once, strict=True):
        assert os.path.getsize(one) <= 2000
        assert open(one, "rb").read() == open(other, "rb").read().replace(b"at-once", b"batched")
    assert [e.data for e in open_recording(batched[0])] == [m for _, _, m in messages]


@pytest.fixture
def switch_often():
    """Threads take turns every microsecond (not every 5 ms): the flusher thread
    then writes in the middle of what the recording thread does."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_no_message_is_lost_or_repeated_while_the_flusher_writes_and_none_is_stranded(tmp_path, switch_often):
    # the flusher thread writes every millisecond while messages join the batch
    # without the lock: after each burst, the last messages must reach the file
    # without another message or a close to push them (a stranded one never would)
    file = MemoryFile()
    rec = Recorder("mem", opener=lambda name: file, flush_interval=0.001)
    tap = rec.message_tap(1, "in")
    sent = 0
    for _ in range(150):
        for _ in range(random.randrange(1, 200)):
            tap(f"m{sent}")
            sent += 1
        deadline = time.monotonic() + 10
        while file.buf.count(b"\n") < sent + 1 and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert file.buf.count(b"\n") == sent + 1  # the header and every message so far
    rec.close()
    events = list(RecordReader(file.buf.decode().splitlines(keepends=True), strict=True))
    assert [e.data for e in events] == [f"m{i}" for i in range(sent)]
    assert rec.events == sent


def test_messages_from_another_thread_than_the_flusher_keep_their_order(tmp_path, switch_often):
    # the flusher thread and the recording thread both write: order and count hold
    file = MemoryFile()
    rec = Recorder("mem", opener=lambda name: file, flush_interval=0.0005, batch_bytes=1 << 30)
    tap = rec.message_tap(2, "out")
    done = threading.Event()

    def produce():
        for i in range(100_000):
            tap(b"%d" % i)
        done.set()

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join(60)
    assert done.is_set()
    rec.close()
    events = list(RecordReader(file.buf.decode().splitlines(keepends=True), strict=True))
    assert [e.data for e in events] == [b"%d" % i for i in range(100_000)]


def test_a_busy_recorder_killed_loses_only_its_last_batch(tmp_path):
    # messages keep coming (no close, no idle time) and batches never fill: what
    # is written is written by the flush interval's rule, while the recorder runs
    path = tmp_path / "busy.jsonl"
    script = textwrap.dedent(f"""
        from wsctl.net.recorder import Recorder
        rec = Recorder({str(path)!r}, url="wss://dev/", flush_interval=0.05, batch_bytes=1 << 30)
        tap = rec.message_tap(1, "in")
        i = 0
        while True:
            tap(f"reading {{i}}")
            if i == 5000:
                print("recorded", flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recorded"
        deadline = time.monotonic() + 10
        while b'"reading 5000"' not in path.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None  # still recording: the interval wrote message 5000, not an exit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    events = list(open_recording(path, strict=True))  # only the last line may be partial
    assert len(events) > 5000
    assert [e.data for e in events] == [f"reading {i}" for i in range(len(events))]


async def test_a_connection_is_recorded_by_its_taps_and_untapped_after(plant, tmp_path):
    import trio

    from wsctl.net.api import serve

    async def device(conn):
        await conn.send("hello")
        await conn.send(b"\x00\x01\xff")
        assert await conn.receive() == "status?"
        await conn.send("status: ok")
        await conn.close(1001, "going away")

    path = tmp_path / "tapped.jsonl"
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        url = f"wss://localhost:{server.port}/"
        with Recorder(path, url=url) as rec:
            async with rec.open(url, **plant.client_kwargs()) as dev:
                channel = dev.device
                assert dev.receive == channel.receive  # no wrapper: the channel's own method
                assert await dev.receive() == "hello"
                assert await dev.receive() == b"\x00\x01\xff"
                await dev.send("status?")
                assert [m async for m in dev] == ["status: ok"]  # the close rule: 1001 ends it
            assert channel.tap_in is None and channel.tap_out is None and channel.tap_closed is None
        nursery.cancel_scope.cancel()
    events = list(open_recording(path, strict=True))
    assert [(e.kind, e.dir, e.data, e.code) for e in events] == [
        ("open", None, None, None),
        ("text", "in", "hello", None),
        ("binary", "in", b"\x00\x01\xff", None),
        ("text", "out", "status?", None),
        ("text", "in", "status: ok", None),
        ("close", "in", None, 1001),
    ]


def test_a_proxy_with_many_connections_over_time_keeps_a_bounded_cache():
    from wsctl.files.recording_writer import CACHED_CONNECTIONS

    file = MemoryFile()
    with Recorder("mem", opener=lambda name: file) as rec:
        for conn in range(1, 3 * CACHED_CONNECTIONS):
            rec.message("out", conn, f"from client {conn}")
            rec.message("in", conn, b"\x01" + conn.to_bytes(2, "big"))
            assert len(rec._taps) <= CACHED_CONNECTIONS and len(rec._heads) <= CACHED_CONNECTIONS
    events = list(RecordReader(file.buf.decode().splitlines(keepends=True), strict=True))
    assert [(e.conn, e.dir, e.data) for e in events[:2]] == [(1, "out", "from client 1"), (1, "in", b"\x01\x00\x01")]
    assert len(events) == 2 * (3 * CACHED_CONNECTIONS - 1)
    assert all(e.data == f"from client {e.conn}" for e in events[::2])
