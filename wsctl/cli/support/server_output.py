"""A server's stdout that never stops the server: `serve`, `hub run`, `record --listen`, `certs est`.

A server writes one access line per connection on the thread that runs its
event loop.  Written straight to stdout, a pipe nobody reads (a supervisor
that never drains it, `wsctl serve | slow-consumer`, a terminal paused with
Ctrl-S) fills after ~64 KiB and the next ``write`` blocks the loop: every
connection of the server stops, not just the log.  Here the loop only appends
the line to a buffer; a thread of its own writes the buffer to a duplicate of
stdout's file descriptor (never through ``sys.stdout``, whose lock a thread
blocked in ``write`` would hold while the interpreter exits).

The buffer is bounded (`MAX_BYTES`): when the reader falls that far behind,
further lines are dropped and counted, and where they would have been the
reader finds one line that says how many were lost (an ``output-dropped``
event in JSON mode).  A reader that went away (EPIPE) gets nothing more; the
server keeps serving.  At exit the buffer is drained for at most `DRAIN_AT_EXIT`
seconds, and what could not be written is reported on stderr.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

#: pending output the reader may fall behind by, then lines are dropped
MAX_BYTES = 8 * 1024 * 1024
#: how long exit waits for a slow reader to take what is pending
DRAIN_AT_EXIT = 5.0


class _Dropped:
    """Where dropped lines were, in the order of what was written."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines = 0


class BackgroundLines:
    """A text stream whose ``write`` appends to a bounded buffer; a daemon thread writes it to ``fd``.

    ``notice(n)`` is the line (with its newline) that stands for n dropped lines.
    """

    def __init__(self, fd: int, *, notice: Callable[[int], str], isatty: bool = False, max_bytes: int = MAX_BYTES):
        self._fd = fd
        self._notice = notice
        self._isatty = isatty
        self._max = max_bytes
        self._ready = threading.Condition()
        self._pending: list[bytes | _Dropped] = []
        self._pending_bytes = 0
        self._closing = False
        self._writing = 0  # lines in the batch being written
        self.dropped = 0  # lines dropped because the reader fell MAX_BYTES behind
        self.lost = 0  # lines never written: dropped, or the reader went away, or left at exit
        self.broken: str | None = None  # why nothing more can be written (the reader closed its end)
        self._thread = threading.Thread(target=self._run, name="wsctl-stdout", daemon=True)
        self._thread.start()

    # -- the event loop's side: never blocks beyond the buffer's lock ------------
    def write(self, text: str) -> int:
        data = text.encode("utf-8", "backslashreplace")
        lines = text.count("\n") or 1
        with self._ready:
            if self.broken is not None or self._closing:
                self.lost += lines
            elif self._pending_bytes + len(data) > self._max and (self._pending or self._writing):
                self.dropped += lines
                self.lost += lines
                if not self._pending or not isinstance(self._pending[-1], _Dropped):
                    self._pending.append(_Dropped())
                marker = self._pending[-1]
                assert isinstance(marker, _Dropped)
                marker.lines += lines
            else:
                self._pending.append(data)
                self._pending_bytes += len(data)
                self._ready.notify()
        return len(text)

    def flush(self) -> None:
        """Nothing to do: the writer thread writes as soon as a line is there."""

    def isatty(self) -> bool:
        return self._isatty

    # -- the writer thread ---------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closing:
                    self._ready.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                self._pending_bytes = 0
                self._writing = _lines(batch)
            data = b"".join(part if isinstance(part, bytes) else self._notice(part.lines).encode() for part in batch)
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                self._lose(batch, exc)
                return
            finally:
                with self._ready:
                    self._writing = 0

    def _lose(self, batch: list[bytes | _Dropped], exc: OSError) -> None:
        with self._ready:
            self.broken = "the reader closed its end" if exc.errno == errno.EPIPE else os.strerror(exc.errno or 0)
            self.lost += _lines(batch) + _lines(self._pending)
            self._pending = []
            self._pending_bytes = 0

    def close(self, timeout: float = DRAIN_AT_EXIT) -> None:
        """Let the writer take what is pending for at most ``timeout`` seconds; count what it could not."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            # the reader is not reading: what is left stays unwritten (the thread is a daemon);
            # the batch it is blocked on counts as lost, however much of it got through
            with self._ready:
                self.lost += self._writing + _lines(self._pending)
                self._pending = []
            return
        os.close(self._fd)


def _lines(parts: list[bytes | _Dropped]) -> int:
    return sum(part.count(b"\n") for part in parts if isinstance(part, bytes))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _notice_for(as_json: bool) -> Callable[[int], str]:
    if as_json:
        return lambda n: (
            f'{{"event": "output-dropped", "lines": {n}, "reason": "stdout was not read: more than {MAX_BYTES} bytes waiting"}}\n'
        )
    return lambda n: f"wsctl: {n} output lines dropped: stdout was not read ({MAX_BYTES // 2**20} MiB waiting)\n"


@contextlib.contextmanager
def server_stdout(env: Any) -> Iterator[BackgroundLines | None]:
    """For as long as a server runs, ``env.stdout`` is a `BackgroundLines` over the real stdout.

    A stream without a file descriptor (a test's StringIO) never blocks and is left as it is.
    """
    stream: IO[str] = env.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield None
        return
    stream.flush()  # what was written before comes first
    sink = BackgroundLines(os.dup(fd), notice=_notice_for(env.json), isatty=env.stdout_isatty)
    env.stdout = sink
    try:
        yield sink
    finally:
        env.stdout = stream
        sink.close()
        if sink.lost:
            why = sink.broken or "stdout was not read fast enough"
            env.warn(f"{sink.lost} output lines were not written ({sink.dropped} dropped while serving): {why}")
