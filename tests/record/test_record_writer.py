"""The recording file writer: whole lines, redaction before the disk, rotation,
disk full, and a recorder killed with SIGKILL."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from wsctl.core.record.format import RecordFormatError, RecordingError
from wsctl.files.recording_reader import open_recording, part_paths
from wsctl.net.recorder import Recorder


def events_of(path, **kw):
    reader = open_recording(path, **kw)
    return reader, list(reader)


def lines_once_flushed(path, count, seconds=10.0):
    """The file's lines once it holds ``count`` of them (bounded wait: the flusher thread writes them)."""
    deadline = time.monotonic() + seconds
    while len(lines := path.read_bytes().splitlines()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return lines


def test_events_are_on_disk_before_close(tmp_path):
    path = tmp_path / "rec.jsonl"
    rec = Recorder(path, url="wss://dev/", flush_interval=0.05)
    rec.message("out", 1, "hello")
    rec.message("in", 1, b"\x00\x01")
    # a batch that never fills is written by the flusher thread once it has
    # waited the flush interval: another reader sees both lines without a close
    lines = lines_once_flushed(path, 3)
    assert len(lines) == 3 and json.loads(lines[0])["format"] == "wsctl-record/1"
    rec.close()
    reader, events = events_of(path)
    assert [(e.dir, e.kind, e.data) for e in events] == [("out", "text", "hello"), ("in", "binary", b"\x00\x01")]
    assert events[0].t <= events[1].t and events[0].wall > 1e9


def test_an_empty_recording_still_has_its_header(tmp_path):
    path = tmp_path / "empty.jsonl"
    Recorder(path, url="wss://x/").close()
    reader, events = events_of(path)
    assert reader.header.url == "wss://x/" and events == []


def test_redaction_happens_before_the_disk(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path, redact=["/params/password", "/*/token", "re:Bearer (\\S+)"]) as rec:
        rec.message("out", 1, '{"method": "login", "params": {"user": "op", "password": "hunter2"}}')
        rec.message("out", 1, '[2, "7", "Authorize", {"token": "s3cret"}]')
        rec.message("in", 1, "Authorization: Bearer abc.def")
        rec.message("in", 1, b"binary Bearer xyz!")
        rec.message("in", 1, '{"untouched" :  true}')
    raw = path.read_bytes()
    for secret in (b"hunter2", b"s3cret", b"abc.def", b"xyz!"):
        assert secret not in raw
    _, events = events_of(path)
    assert json.loads(events[0].data)["params"] == {"user": "op", "password": "[REDACTED]"}
    assert json.loads(events[1].data)[3] == {"token": "[REDACTED]"}
    assert events[2].data == "Authorization: Bearer [REDACTED]"
    assert events[3].data == b"binary Bearer [REDACTED]"
    assert events[4].data == '{"untouched" :  true}'  # no rule hit: exact bytes kept


def test_bad_redaction_rule_is_a_usage_error(tmp_path):
    from wsctl.core.errors import UsageError

    with pytest.raises(UsageError, match="JSON Pointer"):
        Recorder(tmp_path / "x", redact=["password"])


def test_rotation_splits_into_self_contained_parts(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path, url="wss://dev/", max_size=600) as rec:
        for i in range(40):
            rec.message("in", 1, f"telemetry {i:03d} " + "x" * 20)
    files = part_paths(path)
    assert len(files) > 3 and files[1] == f"{path}.1"
    for name in files:
        assert os.path.getsize(name) <= 600
        first = json.loads(open(name).readline())
        assert first["format"] == "wsctl-record/1" and first["url"] == "wss://dev/"
    _, events = events_of(path)
    assert [e.data[10:13] for e in events] == [f"{i:03d}" for i in range(40)]
    # each part alone is a valid recording too
    _, tail = events_of(files[-1], parts=False)
    assert tail and tail[-1].data.startswith("telemetry 039")


def test_a_stale_part_from_an_older_recording_is_not_chained(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path, max_size=300) as rec:
        for _ in range(10):
            rec.message("in", 1, "old" * 20)
    time.sleep(0.01)
    with Recorder(path) as rec:
        rec.message("in", 1, "new")
    _, events = events_of(path)
    assert [e.data for e in events] == ["new"]


class FillingDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails like a full disk (a short write first)."""

    def __init__(self, room: int) -> None:
        self.buf = bytearray()
        self.room = room

    def writable(self):
        return True

    def write(self, data):
        left = self.room - len(self.buf)
        if left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        chunk = bytes(data[:left])
        self.buf += chunk
        return len(chunk)

    def truncate(self, size=None):
        del self.buf[size:]
        return size


def test_disk_full_stops_cleanly_and_keeps_whole_lines(tmp_path):
    disk = FillingDisk(room=700)
    rec = Recorder(tmp_path / "r", opener=lambda name: disk)
    with pytest.raises(RecordingError) as info:
        for i in range(1000):  # past one batch (BATCH_BYTES): the write that fails is in this loop
            rec.message("in", 1, f"message number {i}")
    assert "disk full" in info.value.message and f"{rec.events} events kept" in info.value.message
    assert info.value.exit_code != 0
    kept = disk.buf.decode()
    assert kept.endswith("\n")  # the partial line was cut off again
    from wsctl.core.record.reader import RecordReader

    reader = RecordReader(kept.splitlines(keepends=True), strict=True)
    assert [e.data for e in reader] == [f"message number {i}" for i in range(rec.events)]
    # every later event fails the same way; close does not raise
    with pytest.raises(RecordingError):
        rec.message("in", 1, "more")
    rec.close()


def test_an_output_that_cannot_be_created_is_invalid_input_at_once(tmp_path):
    from wsctl.core.errors import InvalidInput

    rec = Recorder(tmp_path / "no" / "such" / "dir.jsonl")
    with pytest.raises(InvalidInput) as info:
        with rec:  # entering creates the file, before any connection
            pass
    assert info.value.exit_code == 8 and "No such file or directory" in info.value.message and info.value.hint is None
    with pytest.raises(InvalidInput):
        rec.message("in", 1, "x")
    rec.close()  # never raises


def test_the_space_hint_is_only_for_a_full_disk(tmp_path):
    class Broken(FillingDisk):
        def write(self, data):
            raise OSError(errno.EIO, "Input/output error")

    rec = Recorder(tmp_path / "r", opener=lambda name: Broken(0))
    with pytest.raises(RecordingError) as info:
        rec.message("in", 1, "x")
    assert "Input/output error" in info.value.message and not info.value.hint
    full = Recorder(tmp_path / "f", opener=lambda name: FillingDisk(0))
    with pytest.raises(RecordingError) as info:
        full.message("in", 1, "x")
    assert "disk full" in info.value.message and "free some space" in info.value.hint


def test_the_file_exists_before_the_first_event_and_the_header_waits_for_the_connection(tmp_path):
    from types import SimpleNamespace

    path = tmp_path / "early.jsonl"
    with Recorder(path) as rec:
        assert path.exists() and path.read_bytes() == b""
        rec.attach(SimpleNamespace(url="wss://dev/", subprotocol="v1", peer_fingerprint="sha256:de", closed=None))
    reader, _ = events_of(path)
    assert reader.header.subprotocol == "v1" and reader.header.fingerprints["device"] == "sha256:de"


def test_recorder_killed_with_sigkill_leaves_every_complete_line_readable(tmp_path):
    path = tmp_path / "crash.jsonl"
    script = textwrap.dedent(f"""
        import sys
        from wsctl.net.recorder import Recorder
        rec = Recorder({str(path)!r}, url="wss://dev/")
        big = "x" * 50000
        i = 0
        while True:
            rec.message("in", 1, f"{{i}} " + big)
            rec.message("out", 1, bytes([i % 256]) * 30000)
            if i == 20:
                print("going", flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "going"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    reader, events = events_of(path, strict=True)  # strict: only the last line may be damaged
    assert len(events) > 40
    for n, event in enumerate(events):
        if event.kind == "text":
            assert event.data == f"{n // 2} " + "x" * 50000
        else:
            assert event.data == bytes([(n // 2) % 256]) * 30000


def test_regex_redaction_reaches_the_url_and_error_strings(tmp_path):
    path = tmp_path / "url.jsonl"
    url = "wss://10.0.0.17:8443/rpc?token=SECRET123"

    class FakeDevice:
        subprotocol, peer_fingerprint, closed = None, "sha256:ab", (1000, "")

        def __init__(self, url):
            self.url = url

    with Recorder(path, url=url, redact=[r"re:SECRET\d+"], max_size=4096) as rec:
        rec.attach(FakeDevice(url))
        rec.record("error", conn=1, error=f"connect to {url} refused", info={"url": url, "nested": [url]})
        rec.record("close", dir="in", conn=1, code=4000, reason="bye SECRET456")
        for i in range(40):  # rotate: every part's header is masked too
            rec.message("in", 1, f"message {i} " + "x" * 100)
    assert len(rec.files) > 1
    for name in rec.files:
        text = open(name, encoding="utf-8").read()
        assert "SECRET" not in text, name
    reader, events = events_of(path)
    header = reader.header
    assert header.url == "wss://10.0.0.17:8443/rpc?token=[REDACTED]"
    assert events[0].info["url"] == header.url
    assert events[1].error == f"connect to {header.url} refused" and events[1].info["nested"] == [header.url]
    assert events[2].reason == "bye [REDACTED]"


def test_warnings_name_the_rotated_part_and_its_own_line(tmp_path):
    path = tmp_path / "rot.jsonl"
    with Recorder(path, max_size=4096) as rec:
        for i in range(100):
            rec.message("in", 1, f"message {i} " + "x" * 100)
    assert len(rec.files) >= 3
    second = f"{path}.2"
    lines = open(second, "rb").read().splitlines(keepends=True)
    lines.insert(1, b"{garbage\n")  # line 2 of the part (line 1 is its header)
    open(second, "wb").write(b"".join(lines))
    warnings = []
    reader, events = events_of(path, warn=warnings.append)
    assert len(events) == 100 and reader.skipped == 1
    assert len(warnings) == 1 and warnings[0].startswith(f"{second}: line 2: not JSON"), warnings
    with pytest.raises(RecordFormatError) as info:
        list(open_recording(path, strict=True))
    assert info.value.message.startswith(f"{second}: line 2:")


async def test_a_gap_carries_the_id_of_the_attempt_it_waits_for(plant, tmp_path):
    from types import SimpleNamespace

    from wsctl.core.errors import WsctlError

    path = tmp_path / "gaps.jsonl"
    device = SimpleNamespace(url="wss://dev/", subprotocol=None, peer_fingerprint=None, closed=None)
    with Recorder(path) as rec:
        rec.attach(device)  # connection 1, then lost
        rec.gap(SimpleNamespace(error="connection lost", delay=0.5, attempt=1))
        with pytest.raises(WsctlError):  # attempt 2 fails: Recorder.open records the error
            async with rec.open("wss://127.0.0.1:1/", **plant.client_kwargs()):
                pass
        rec.gap(SimpleNamespace(error="connect refused", delay=1.0, attempt=2))
        rec.attach(device)  # the attempt that worked
    _, events = events_of(path)
    assert [(e.kind, e.conn) for e in events] == [("open", 1), ("gap", 2), ("error", 2), ("gap", 2), ("open", 2)]


class CountingFile(io.RawIOBase):
    """A file in memory that counts its write calls."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.writes = 0

    def writable(self):
        return True

    def write(self, data):
        self.writes += 1
        self.buf += data
        return len(data)


def test_a_burst_of_messages_is_written_in_batches_not_one_write_each(tmp_path):
    file = CountingFile()
    with Recorder(tmp_path / "r", opener=lambda name: file, flush_interval=60) as rec:
        for i in range(500):
            rec.message("in", 1, f'{{"telemetry":{{"speed":1200,"seq":{i}}}}}')
    from wsctl.core.record.reader import RecordReader

    events = list(RecordReader(file.buf.decode().splitlines(keepends=True), strict=True))
    assert [e.data for e in events] == [f'{{"telemetry":{{"speed":1200,"seq":{i}}}}}' for i in range(500)]
    assert rec.events == 500
    # the header, then one write per full batch, and the rest on close
    assert file.writes <= 2 + len(file.buf) // rec.batch_bytes, file.writes


def test_a_recorder_killed_after_the_flush_interval_loses_nothing(tmp_path):
    path = tmp_path / "idle.jsonl"
    script = textwrap.dedent(f"""
        import time
        from wsctl.net.recorder import Recorder
        rec = Recorder({str(path)!r}, url="wss://dev/", flush_interval=0.05)
        for i in range(30):
            rec.message("in", 1, f"reading {{i}}")
        print("recorded", flush=True)
        time.sleep(60)  # the device fell silent: no later message and no close writes the batch
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recorded"
        lines = lines_once_flushed(path, 31)
        assert proc.poll() is None  # still running: the flusher wrote them, not an exit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert len(lines) == 31
    _, events = events_of(path, strict=True)
    assert [e.data for e in events] == [f"reading {i}" for i in range(30)]


def test_a_batch_the_flusher_could_not_write_fails_the_next_event_and_the_with_block(tmp_path):
    disk = FillingDisk(room=400)  # the header, then about one line
    rec = Recorder(tmp_path / "r", opener=lambda name: disk, flush_interval=0.01)
    rec.message("in", 1, "first " + "x" * 100)
    rec.message("in", 1, "second " + "x" * 100)
    deadline = time.monotonic() + 10
    while rec.failed is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(rec.failed, RecordingError) and "disk full" in rec.failed.message
    assert disk.buf.decode().endswith("\n") and "first" in disk.buf.decode() and "second" not in disk.buf.decode()
    assert f"{rec.events} events kept" in rec.failed.message and rec.events == 1
    with pytest.raises(RecordingError):
        rec.message("in", 1, "third")
    rec.close()

    # the last batch fails on close, after the session's last event: leaving the block raises it
    with pytest.raises(RecordingError) as info:
        with Recorder(tmp_path / "s", opener=lambda name: FillingDisk(room=300), flush_interval=60) as late:
            late.message("in", 1, "x" * 500)
    assert "disk full" in info.value.message
    late.close()  # close itself never raises
