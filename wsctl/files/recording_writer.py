"""Writing recordings: the crash-safe file writer (`wsctl.net.recorder` adds the recorded Device).

`RecordingFile` owns one recording (FILE, and FILE.1, FILE.2 ... when it rotates).
Events are encoded and redacted as they come, and written in batches: one
unbuffered ``write`` when a batch holds `BATCH_BYTES`, or once its first line
has waited `FLUSH_INTERVAL` (the process's flusher thread,
`wsctl.files.recording_flush`, writes a batch that a quiet device leaves
unfilled), with any event that is not a message (open, close, error, gap,
ping), and on close.  A ``kill -9`` of wsctl thus loses at most the
events of the last `FLUSH_INTERVAL`; what reached the file is whole lines
except perhaps a partial last one, which every reader tolerates.  (Power
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

import base64
import binascii
import contextlib
import dataclasses
import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Self

from wsctl import __version__
from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.known_devices import certificate_fingerprint as der_fingerprint
from wsctl.core.record.format import (
    Event,
    Header,
    RecordingError,
    encode_event,
    encode_header,
    encode_message,
)
from wsctl.core.record.redact import Redactor
from wsctl.files.recording_flush import FLUSHER

PathLike = str | os.PathLike[str]

#: a batch is written once it holds this many bytes: the write's fixed cost
#: (a system call, ~6 us) is then shared by ~20 telemetry lines of 200 bytes
BATCH_BYTES = 4096
#: ... or once its first line has waited this long (seconds): the most a
#: ``kill -9`` can lose, also when the device falls silent after a burst
FLUSH_INTERVAL = 0.2
Opener = Callable[[str], BinaryIO]


def _open_binary(path: str) -> BinaryIO:
    # unbuffered: every write() is a system call, so nothing waits in Python.
    # 0600: a recording holds what the machine and its operators said, tokens
    # and set-points included (redaction covers what the user thought of)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode only applies to a new file: an old 0644 one is tightened too
    os.fchmod(fd, 0o600)
    return open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by RecordingFile.close


def part_path(path: PathLike, part: int) -> str:
    """FILE for part 0, FILE.n for the n-th rotated part."""
    return os.fspath(path) if part == 0 else f"{os.fspath(path)}.{part}"


def certificate_fingerprint(pem_path: PathLike | None) -> str | None:
    """``sha256:<hex>`` of the first certificate in a PEM file (our own client certificate)."""
    if not pem_path:
        return None
    try:
        text = Path(pem_path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    end = "-----END CERTIFICATE-----"
    start = text.find("-----BEGIN CERTIFICATE-----")
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return None
    body = text[start + len("-----BEGIN CERTIFICATE-----") : stop]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der_fingerprint(der)


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
        opener: Opener = _open_binary,
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
        #: encoded lines not yet written, their size, and when the first was added (time.monotonic)
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._batch_since = 0.0
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

    def _rotate(self) -> None:
        self._flush_batch()
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None
        self._part += 1
        self._open_part()

    def _append(self, line: bytes, *, now_too: bool = False) -> None:
        """Add one event's line to the batch; write the batch when it is full,
        has waited long enough, or ``now_too``."""
        if self.max_size is not None and self._part_events and self._size + len(line) > self.max_size:
            self._rotate()
        now = time.monotonic()
        if not self._batch:
            self._batch_since = now
            if not self._scheduled:
                self._scheduled = True
                FLUSHER.schedule(self, now + self.flush_interval)
        self._batch.append(line)
        self._batch_bytes += len(line)
        self._size += len(line)
        self._part_events += 1
        if now_too or self._batch_bytes >= self.batch_bytes or now - self._batch_since >= self.flush_interval:
            self._flush_batch()

    def _flush_batch(self) -> None:
        if not self._batch:
            return
        data = b"".join(self._batch) if len(self._batch) > 1 else self._batch[0]
        events = len(self._batch)
        self._batch.clear()
        self._batch_bytes = 0
        self._write_out(data, events)

    def flush_due(self, now: float) -> float | None:
        """The flusher thread's call: write the batch if it has waited the flush
        interval; else when it will be due (None: nothing is waiting)."""
        with self._lock:
            if not self._batch or self._file is None:
                self._scheduled = False
                return None
            due = self._batch_since + self.flush_interval
            if due > now:
                return due
            self._scheduled = False
            try:
                self._flush_batch()
            except RecordingError:
                self._unreported = True  # no caller is waiting: the next write or leaving the `with` raises it
                raise
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
        """Record one message (the hot path: no Event object unless redacting)."""
        t, wall = self._clock() - self._t0, self._wall()
        if not isinstance(message, (str, bytes)):
            if not isinstance(message, (bytearray, memoryview)):
                raise InvalidInput(f"can only record str or bytes, not {type(message).__name__}")
            message = bytes(message)  # bytearray, memoryview: as the channel sends them
        line = None
        if not self._redacting:
            try:
                line = encode_message(t, wall, conn, direction, message).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: the general encoder escapes it
                pass
        if line is None:
            kind = "text" if isinstance(message, str) else "binary"
            self.write(Event(t=t, kind=kind, dir=direction, conn=conn, wall=wall, data=message))
            return
        with self._lock:
            self._check_open()
            self._append(line)

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
