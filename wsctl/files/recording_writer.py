"""Writing recordings: the crash-safe file writer (`wsctl.net.recorder` adds the recorded Device).

`RecordingFile` owns one recording (FILE, and FILE.1, FILE.2 ... when it rotates).
Events are redacted as they come, and written in batches: one
unbuffered ``write`` when a batch holds `BATCH_BYTES`, or once its first line
has waited `FLUSH_INTERVAL` (the process's flusher thread,
`wsctl.files.recording_flush`, writes a batch that a quiet device leaves
unfilled), with any event that is not a message (open, close, error, gap,
ping), and on close.  A ``kill -9`` of wsctl thus loses at most the
events of the last `FLUSH_INTERVAL`; what reached the file is whole lines
except perhaps a partial last one, which every reader tolerates.

A message (`message`, or a connection's `message_tap`) is kept as a tuple
(clocks, the line's head for its connection, direction and kind, the message)
and its line is encoded when the batch is written, the whole batch at once
(`wsctl.core.record.format.encode_messages`, the same bytes as one line at a
time): on the receiving path that is the cheapest place for it.  Rotation
is decided line by line as the batch is encoded, so a part still ends at
the last whole line that fits.  (Power
loss is not covered: that would need an fsync, which costs more than the
whole message path.)

Writes are synchronous on purpose.  Appending a batch to a local file takes
microseconds; a thread hop per write (``trio.to_thread``) would cost more
than the write itself.  One write per message instead of per batch cost 14 %
of the receiving rate in separate processes (bench/bench_record.py).

When a write fails (disk full, quota, I/O error) the partial line is cut off
again, the file is closed, and `RecordingError` is raised — by that write
(or, when the flusher thread or close wrote it, by the next event and by
leaving the ``with`` block) and for every later event — so the command stops
cleanly, keeps what was written and exits non-zero.

The file is created when the recorder is entered (`create`), before any
connection: an output that cannot be created (no such directory, no
permission) is `InvalidInput` (exit 8) with the OS's reason, and the device
never sees a connection the recording could not keep.  The header itself is
still written with the first event, so it can carry what the first
connection negotiated (subprotocol, the device's fingerprint).

The device side (recording what a `Device` sends and receives) is
`wsctl.net.recorder.Recorder`, a `RecordingFile`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Self

from wsctl import __version__
from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.record.format import (
    Event,
    Header,
    RecordingError,
    encode_event,
    encode_header,
    encode_messages,
    message_head,
)
from wsctl.core.record.redact import Redactor
from wsctl.files.recording_flush import FLUSHER
from wsctl.files.recording_parts import PathLike, certificate_fingerprint, open_part, part_path

#: a batch is written once it holds this many bytes: a write of 4 KiB takes
#: ~5 us of system time, 16 KiB ~10 us, so per 200-byte telemetry line 0.24
#: and 0.12 us (more buys little: 0.10 at 64 KiB).  What ``kill -9`` can
#: lose is bounded by `FLUSH_INTERVAL`, not by this.
BATCH_BYTES = 16384
#: ... or once its first line has waited this long (seconds): the most a
#: ``kill -9`` can lose, also when the device falls silent after a burst
FLUSH_INTERVAL = 0.2
#: what a message's line adds to its data (clocks, conn, dir, kind: ~85
#: bytes): a batch of messages not yet encoded is counted with it
LINE_OVERHEAD = 88
#: a batched message: (clock, wall, head of its line, the message)
Pending = tuple[float, float, str, str | bytes]
#: line heads and taps kept for `message` (the proxy's connections)
CACHED_CONNECTIONS = 1024
Opener = Callable[[str], BinaryIO]


def _plain(message: Any) -> str | bytes:
    """What a message is recorded as: bytes-like as bytes, a str subclass as a plain str."""
    if isinstance(message, str):
        return "".join((message,))
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(memoryview(message))  # a copy: a bytearray may change before the batch is written
    raise InvalidInput(f"can only record str or bytes, not {type(message).__name__}")


class RecordingFile:
    """One recording being written (the file side of `wsctl.net.recorder.Recorder`).  A context manager: closing flushes and closes.

    ``max_size``: bytes per file before rotating to the next part (each part
    starts with its own header, so it is readable alone); ``redact``: rules
    (``/json/pointer`` or ``re:REGEX``) or a `Redactor`; ``opener``: how a
    part file is opened (tests inject failing files); ``header``: write this
    header instead of building one (conversions keep their source's times);
    ``flush_interval`` / ``batch_bytes``: when a batch is written (`FLUSH_INTERVAL`,
    `BATCH_BYTES`; ``batch_bytes=0`` writes every event at once).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        url: str | None = None,
        subprotocol: str | None = None,
        profile: str | None = None,
        tool_fingerprint: str | None = None,
        source: str = "client",
        max_size: int | None = None,
        redact: Redactor | Sequence[str] = (),
        opener: Opener = open_part,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        header: Header | None = None,
        flush_interval: float = FLUSH_INTERVAL,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.redactor = redact if isinstance(redact, Redactor) else Redactor(redact)
        self._redacting = bool(self.redactor)  # asked once per message: not through __bool__
        self.max_size = max_size
        self._opener = opener
        self._clock = clock
        self._wall = wall
        self._t0 = clock()
        self._header = (
            Header(
                url=url,
                subprotocol=subprotocol,
                profile=profile,
                fingerprints={"tool": tool_fingerprint, "device": None},
                started=round(wall(), 6),
                wsctl=__version__,
                source=source,
            )
            if header is None
            else dataclasses.replace(header, wsctl=__version__, part=0)
        )
        self.flush_interval = flush_interval
        self.batch_bytes = batch_bytes
        #: held by the writing task and by the flusher thread (`wsctl.files.recording_flush`)
        self._lock = threading.Lock()
        #: the batch: messages not yet encoded (`Pending`), then encoded lines not yet
        #: written (whenever a line is added, the messages before it are encoded
        #: first: the order is kept), the batch's size (messages estimated with
        #: `LINE_OVERHEAD`), and when its first event was added (time.monotonic)
        self._pending: list[Pending] = []
        self._batch: list[bytes] = []
        self._batch_events = 0
        self._batch_bytes = 0
        self._encoded = 0  # of which in encoded lines
        self._batch_since = 0.0
        #: _batch_since + flush_interval; 0 while the batch is not in the flusher's
        #: queue or the recording cannot take messages (the tap then takes the lock)
        self._batch_due = 0.0
        #: line heads (`message_head`) by (conn, direction, binary)
        self._heads: dict[tuple[int, str, bool], str] = {}
        #: messages may take the fast path: header written, not failed, not closed, no redaction
        self._ready = False
        #: `message_tap` of each (conn, direction) that `message` was called for
        self._taps: dict[tuple[int, str], Callable[[Any], None]] = {}
        self._scheduled = False  # in the flusher's queue
        self._file: BinaryIO | None = None
        self._header_written = False  # of the current part
        self._part = 0
        self._size = 0  # bytes in the current part, batch included
        self._disk = 0  # bytes of the current part written to the file
        self._part_events = 0
        #: RecordingError once writing failed; InvalidInput when FILE could not be created
        self._failed: WsctlError | None = None
        #: `_failed` came from the flusher thread or from close, and no caller has seen it yet
        self._unreported = False
        self._closed = False
        self._conns = 0
        #: events and bytes in the files so far (all parts; a batch counts once written)
        self.events = 0
        self.bytes = 0
        #: every file written, in order
        self.files: list[str] = []

    @classmethod
    def for_client(cls, path: PathLike, url: str, connect_kwargs: dict[str, Any], **kwargs: Any) -> Self:
        """A recorder for a client session opened with ``open_device(url, **connect_kwargs)``."""
        from wsctl.core.urls import public_url

        return cls(
            path, url=public_url(url), tool_fingerprint=certificate_fingerprint(connect_kwargs.get("cert")), **kwargs
        )

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> Self:
        self.create()
        return self

    def create(self) -> None:
        """Create (truncate) FILE now; `InvalidInput` when it cannot be.  Idempotent."""
        if self._file is None and self._failed is None and not self._closed and not self._header_written:
            self._open_file()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()
        if exc_type is None and self._unreported and isinstance(self._failed, RecordingError):
            # the last batch failed after every caller had returned: the command must not exit 0
            self._unreported = False
            raise self._failed

    def close(self) -> None:
        """Write what is batched, and the header if nothing else was written (an
        empty recording is still a valid one), then close the file.  Idempotent;
        never raises: a write that fails here is kept in `failed`, and leaving
        the ``with`` block raises it."""
        with self._lock:
            if self._closed:
                return
            try:  # close runs in finally blocks: never raise
                if self._file is not None:
                    self._flush_batch()
                if not self._header_written and self._failed is None:
                    self._open_part()
            except RecordingError:
                self._unreported = True
            except InvalidInput:
                pass
            self._closed = True
            self._ready = False
            self._batch_due = 0.0
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None

    @property
    def failed(self) -> WsctlError | None:
        return self._failed

    def new_conn(self) -> int:
        """A fresh connection id (1, 2, ...)."""
        self._conns += 1
        return self._conns

    # -- writing ---------------------------------------------------------------
    def _open_file(self) -> None:
        name = part_path(self.path, self._part)
        try:
            self._file = self._opener(name)
        except OSError as exc:
            if self._part == 0:
                # nothing recorded yet: the path is what is wrong, not the disk
                self._failed = InvalidInput(f"cannot create the recording {name}: {exc.strerror or exc}")
                raise self._failed from None
            self._fail(exc, name, truncate_to=None)
        self.files.append(name)
        self._size = self._disk = 0
        self._part_events = 0
        self._header_written = False

    def _open_part(self) -> None:
        if self._file is None:
            self._open_file()
        header = self.redactor.header(dataclasses.replace(self._header, part=self._part))
        data = encode_header(header).encode("utf-8")
        self._write_out(data, 0)
        self._size += len(data)
        self._header_written = True
        self._ready = not self._redacting and self._failed is None and not self._closed

    def _rotate(self) -> None:
        self._write_batch()
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None
        self._part += 1
        self._open_part()

    def _started(self, now: float) -> None:
        """The batch gets its first event: its flush is due `flush_interval` from ``now``."""
        self._batch_since = now
        self._batch_due = now + self.flush_interval
        if not self._scheduled:
            self._scheduled = True
            FLUSHER.schedule(self, now + self.flush_interval)

    def _append(self, line: bytes, *, now_too: bool = False) -> None:
        """Add one event's line to the batch (after the messages before it);
        write the batch when it is full, has waited long enough, or ``now_too``."""
        now = time.monotonic()
        if self._pending:
            self._encode_pending()
        elif not self._batch:
            self._started(now)
        self._add_line(line)
        if now_too or self._batch_bytes >= self.batch_bytes or now - self._batch_since >= self.flush_interval:
            self._flush_batch()

    def _add_line(self, line: bytes) -> None:
        if self.max_size is not None and self._part_events and self._size + len(line) > self.max_size:
            self._rotate()
            if not self._batch:  # the rest of the batch waits from now
                self._batch_since = time.monotonic()
                self._batch_due = self._batch_since + self.flush_interval
        self._batch.append(line)
        self._batch_events += 1
        self._batch_bytes += len(line)
        self._encoded += len(line)
        self._size += len(line)
        self._part_events += 1

    def _encode_pending(self) -> None:
        """Encode the batched messages into lines (rotating between two lines where a part is full)."""
        count = len(self._pending)
        pending = self._pending[:count]
        del self._pending[:count]  # not clear(): a tap may append meanwhile (see `message_tap`)
        self._batch_bytes = self._encoded  # the lines counted exactly again (messages were estimated)
        texts = encode_messages(pending, self._t0)
        if self.max_size is None:
            try:
                data = "".join(texts).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: found line by line below
                pass
            else:
                self._batch.append(data)
                self._batch_events += len(texts)
                self._batch_bytes += len(data)
                self._encoded += len(data)
                self._size += len(data)
                self._part_events += len(texts)
                return
        for item, text in zip(pending, texts, strict=True):
            try:
                line = text.encode("utf-8")
            except UnicodeEncodeError:  # the general encoder escapes the surrogate
                line = encode_event(self._message_event(item)).encode("utf-8")
            self._add_line(line)

    def _message_event(self, item: Pending) -> Event:
        clock, wall, head, message = item
        fields = json.loads("{" + head[1:] + "null}")  # the head is JSON: conn, dir, kind
        return Event(
            t=clock - self._t0, kind=fields["kind"], dir=fields["dir"], conn=fields["conn"], wall=wall, data=message
        )

    def _head(self, conn: int, direction: str, binary: bool) -> str:
        key = (conn, direction, binary)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= CACHED_CONNECTIONS:
                self._heads.clear()  # a proxy's clients come and go: a cache, not a registry
            head = self._heads[key] = message_head(conn, direction, binary)
        return head

    def _flush_batch(self) -> None:
        if self._pending:
            self._encode_pending()
        self._write_batch()

    def _write_batch(self) -> None:
        batch = self._batch
        if not batch:
            return
        data = b"".join(batch) if len(batch) > 1 else batch[0]
        events = self._batch_events
        batch.clear()
        self._batch_events = self._batch_bytes = self._encoded = 0
        self._write_out(data, events)

    def flush_due(self, now: float) -> float | None:
        """The flusher thread's call: write the batch if it has waited the flush
        interval; else when it will be due (None: nothing is waiting)."""
        with self._lock:
            if (self._batch or self._pending) and self._file is not None:
                due = self._batch_since + self.flush_interval
                if due > now:
                    return due
                try:
                    self._flush_batch()
                except RecordingError:
                    self._scheduled = False
                    self._batch_due = 0.0
                    self._unreported = True  # no caller is waiting: the next write or leaving the `with` raises it
                    raise
            # first unscheduled, then a last look: a message that joined the batch
            # without the lock (see `message_tap`) while this wrote is either
            # seen here, or its tap sees `_batch_due` 0 and schedules it
            self._scheduled = False
            self._batch_due = 0.0
            if self._pending and self._file is not None:
                self._scheduled = True
                self._batch_since = time.monotonic()
                self._batch_due = self._batch_since + self.flush_interval
                return self._batch_due
        return None

    def flush(self) -> None:
        """Write what is batched now.  Raises `RecordingError` if writing fails."""
        with self._lock:
            self._flush_batch()

    def _write_out(self, data: bytes, events: int) -> None:
        """Write whole lines to the current part: one system call unless the kernel takes less."""
        file = self._file
        assert file is not None
        done = 0
        try:
            written = file.write(data)
            done = written or 0
            if done != len(data):  # a short write (signal, nearly full disk): finish the lines
                view = memoryview(data)[done:]
                while view:
                    written = file.write(view)
                    if written is None:  # non-blocking file with a full buffer: treat as a failed write
                        raise OSError(errno.EAGAIN, "write would block")
                    done += written
                    view = view[written:]
            file.flush()
        except OSError as exc:
            # keep the whole lines that reached the file, cut off the partial one
            kept = data.rfind(b"\n", 0, done) + 1
            if events:
                self.events += data.count(b"\n", 0, kept)
            self.bytes += kept
            self._fail(exc, part_path(self.path, self._part), truncate_to=self._disk + kept)
        self._disk += len(data)
        self.bytes += len(data)
        self.events += events

    def _fail(self, exc: OSError, name: str, *, truncate_to: int | None) -> None:
        file, self._file = self._file, None
        self._batch.clear()
        self._pending.clear()
        self._batch_events = self._batch_bytes = self._encoded = 0
        self._ready = False
        self._batch_due = 0.0
        if file is not None:
            if truncate_to is not None:
                # cut off the partial line, so the file ends on a whole event
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    file.truncate(truncate_to)
            with contextlib.suppress(OSError):
                file.close()
        full = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded"}.get(exc.errno or 0)
        self._failed = RecordingError(
            f"recording stopped: {full or exc.strerror or exc} while writing {name}; {self.events} events kept",
            # the space hint only where space is the problem (EIO, EACCES ... are not)
            hint="free some space, or record with --max-size to rotate files" if full else None,
        )
        raise self._failed from None

    def _check_open(self) -> None:
        if self._failed is not None:
            self._unreported = False
            raise self._failed
        if self._closed:
            raise RecordingError(f"recording {self.path} is already closed")
        if not self._header_written:
            self._open_part()

    def write(self, event: Event) -> None:
        """Append one event (redacted first).  Raises `RecordingError` once writing failed."""
        with self._lock:
            self._check_open()
            if self.redactor:
                event = self.redactor.event(event)
            # a connection's open, close, error, a gap ... are rare and mark where
            # a session stands: written at once (with the messages before them),
            # for a reader of a live recording and for what a crash leaves
            self._append(encode_event(event).encode("utf-8"), now_too=event.kind not in ("text", "binary"))

    def record(
        self, kind: str, *, dir: str | None = None, conn: int = 0, data: str | bytes | None = None, **fields: Any
    ) -> None:
        """Stamp an event with the recorder's clocks and write it."""
        self.write(
            Event(t=self._clock() - self._t0, kind=kind, dir=dir, conn=conn, wall=self._wall(), data=data, **fields)
        )

    def message(self, direction: str, conn: int, message: str | bytes) -> None:
        """Record one message (the proxy's call; a client's connection uses `message_tap`)."""
        tap = self._taps.get((conn, direction))
        if tap is None:
            if len(self._taps) >= CACHED_CONNECTIONS:
                self._taps.clear()
            tap = self._taps[(conn, direction)] = self.message_tap(conn, direction)
        tap(message)

    def message_tap(self, conn: int, direction: str) -> Callable[[Any], None]:
        """``tap(message)`` records a message of connection ``conn`` in ``direction``:
        the receiving path's call, with all that is the same for each message
        looked up once.  The message joins the batch as a `Pending` tuple (no
        Event object, no line yet: `_encode_pending` makes the batch's lines).

        While a batch is under way a message joins it without taking the lock
        (taking it costs more than the rest of this): the only other thread,
        the flusher, takes messages from the front of the list (`_encode_pending`:
        ``del pending[:n]``, one operation under the GIL) and, after writing,
        sets `_batch_due` to 0 (unscheduled) before it looks at the list once
        more (`flush_due`); this appends before it looks at `_batch_due`.  So
        a message that raced a write is in the flusher's last look, or this
        sees the 0 and schedules it: either way it is written within the flush
        interval.  Starting a batch (the list is empty), writing one, and
        anything unusual (a failed or closed recording also has `_batch_due`
        0; a redacting one never has messages in the list) take the lock."""
        text_head, binary_head = self._head(conn, direction, False), self._head(conn, direction, True)
        clock, wall, pending, add = self._clock, self._wall, self._pending, self._add_locked
        monotonic = time.monotonic
        same_clock = clock is monotonic

        def tap(message: Any) -> None:
            cls = type(message)
            if cls is str:
                head = text_head
            elif cls is bytes:
                head = binary_head
            else:
                return tap(_plain(message))
            now = monotonic()
            item = (now if same_clock else clock(), wall(), head, message)
            if pending:
                pending.append(item)
                self._batch_bytes += len(message) + LINE_OVERHEAD
                if self._batch_bytes >= self.batch_bytes or now >= self._batch_due:
                    add(None, now)
                return None
            return add(item, now)

        return tap

    def _add_locked(self, item: Pending | None, now: float) -> None:
        """The tap's slow path: add ``item`` (None: it is in already) with the
        lock held; start the batch, schedule it, write it when it is due."""
        with self._lock:
            if item is not None:
                if not self._ready and self._not_ready(*item):
                    return
                if not self._pending and not self._batch:
                    self._started(now)
                self._pending.append(item)
                self._batch_bytes += len(item[3]) + LINE_OVERHEAD
            else:
                if not self._ready:
                    self._check_open()  # failed or closed: raise it (the message is not written)
                if not self._scheduled:
                    self._started(now)  # joined while the flusher wrote (see `message_tap`)
            if self._batch_bytes >= self.batch_bytes or now >= self._batch_due:
                self._flush_batch()

    def _not_ready(self, clock: float, wall: float, head: str, message: str | bytes) -> bool:
        """A message while not `_ready` (the lock held): raise when the recording
        failed or is closed, write the header first; True when the message was
        recorded here (redacted, as an Event)."""
        self._check_open()
        if not self._redacting:
            return False
        event = self.redactor.event(self._message_event((clock, wall, head, message)))
        self._append(encode_event(event).encode("utf-8"))
        return True

    def gap(self, gap: Any) -> None:
        """``on_gap`` callback of `run_with_reconnect`: the wait is marked in the recording.

        The gap is the wait *before* the next attempt, so it carries that
        attempt's connection id — the one `open` gives its ``error`` or
        ``open`` event — not the id of the connection that was lost."""
        error = getattr(gap, "error", None)
        self.record(
            "gap",
            conn=self._conns + 1,
            error=getattr(error, "message", None) or str(error),
            delay=round(gap.delay, 6),
            attempt=gap.attempt,
        )

    def note_device(
        self, *, url: str | None = None, subprotocol: str | None = None, fingerprint: str | None = None
    ) -> None:
        """Fill the header from the first connection (it is written lazily, on the first event)."""
        if self._header_written or self._failed is not None:
            return
        h = self._header
        fingerprints = dict(h.fingerprints)
        if fingerprint and not fingerprints.get("device"):
            fingerprints["device"] = fingerprint
        self._header = dataclasses.replace(
            h, url=h.url or url, subprotocol=h.subprotocol or subprotocol, fingerprints=fingerprints
        )
