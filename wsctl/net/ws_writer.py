"""The write side of one WebSocket connection: frames out to the stream, coalesced.

A frame is written by the task that sends it (`write` returns once the
stream took it), unless the connection is busy writing or the send follows
the previous write at once (within `BURST_GAP`: a burst — one task sending
message after message, an echo answering a chunk of pipelined requests).
Then the frame is queued and `write` returns at once; the connection's
flusher, a trio system task that lives only while there is a queue, sends
everything queued in one ``send_all`` (a task that was writing its own frame
meanwhile hands what others queued to the flusher and goes on).  Many
messages, one TLS record and one system call: trio pays its per-``send_all``
cost (the scheduler, `SSLStream`'s retry loop) once per batch instead of
once per message, as asyncio's transports do.

Back-pressure holds: while `WRITE_HIGH_WATER` bytes are queued a sender
waits, before queueing its frame (a sender cancelled there queued nothing).
A request and its reply are never delayed: a write after a pause goes
straight to the stream, and a queued frame leaves at the scheduler's next
pass — when the sender next waits, or `HOLD_AT_MOST` after it was queued if
the sender keeps writing (it yields then, so a handler answering a pipelined
peer's requests one by one does not hold the other tasks either).  A queued
frame that the stream then refuses (the peer went away) is lost as the bytes
in a socket's buffer are; the next `write` raises.  A sender's own write that is
cancelled (or fails) part-way loses the stream the same way: nothing is ever
written into a truncated frame.  `drain` waits for the
queue to be empty before the stream is closed, so the last messages and the
close frame of a burst are not cut off.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from trio.lowlevel import (
    Abort,
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    current_task,
    reschedule,
    spawn_system_task,
    wait_task_rescheduled,
)

log = logging.getLogger(__name__)

#: bytes queued past which senders wait (python-websockets' and asyncio's default high-water mark)
WRITE_HIGH_WATER = 64 * 1024

#: a write this soon (seconds) after the previous one finished is part of a burst: queued.  A
#: request/response exchange has a round trip between its writes (≥ 100 µs even on loopback).
BURST_GAP = 50e-6

#: a sender queueing frames yields to the scheduler once the oldest has waited this long (s),
#: so a handler with work between its writes (a pipelined peer's requests) does not hold the
#: others, or its own replies, for a whole `WRITE_HIGH_WATER`
HOLD_AT_MOST = 0.5e-3

_LOST = (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError)

_NEVER = float("-inf")  # one object for every connection's "no write yet"


class WriteFailed(Exception):
    """The stream refused a write (or refused one queued before): the connection is lost."""


def park(waiters: list[Any]) -> Any:
    """Wait until `wake_all` is called on ``waiters`` (cancellable)."""
    task = current_task()
    waiters.append(task)

    def abort(_: Any) -> Abort:
        try:
            waiters.remove(task)
        except ValueError:
            pass
        return Abort.SUCCEEDED

    return wait_task_rescheduled(abort)


def wake_all(waiters: list[Any] | None) -> None:
    if waiters:
        tasks = waiters[:]
        waiters.clear()
        for task in tasks:
            reschedule(task)


class FrameWriter:
    """Frames to ``stream`` for one connection (see the module docstring)."""

    __slots__ = ("_stream", "_out", "_out_bytes", "_writing", "_waiters", "failed", "_sealed", "_done_at", "_since")

    def __init__(self, stream: trio.abc.SendStream) -> None:
        self._stream = stream
        self._out: list[bytes | bytearray] | None = None
        self._out_bytes = 0
        self._writing = False  # a task (a sender or the flusher) is in send_all
        self._waiters: list[Any] | None = None
        #: the stream refused a write: every later one raises WriteFailed
        self.failed = False
        self._sealed = False  # the last frame was taken: so are the writes after it refused
        self._done_at = _NEVER
        self._since = 0.0  # when the first frame now queued was queued

    @property
    def queued(self) -> int:
        """Bytes taken by `write` and not yet given to the stream."""
        return self._out_bytes

    async def write(self, data: bytes | bytearray, *, last: bool = False) -> None:
        """Send ``data`` or queue it for the writer under way (module docstring).

        ``last``: nothing may follow it (the close frame, queued at once even
        past the high-water mark): later writes raise WriteFailed, including
        those of senders that were waiting for room."""
        await checkpoint_if_cancelled()
        if not last:
            while self._writing and self._out_bytes >= WRITE_HIGH_WATER and not self.failed and not self._sealed:
                await self._wait()
        if self.failed or self._sealed:
            raise WriteFailed
        self._sealed = last
        now = trio.current_time()
        if self._writing:
            self._queue(data, now)
            if now - self._since > HOLD_AT_MOST:
                # a sender with work between its writes: let the writer (and others) run
                await cancel_shielded_checkpoint()
            return
        if not last and now - self._done_at < BURST_GAP:  # a close with nothing queued: written now
            self._queue(data, now)
            if self._start_flusher():
                return
            taken = self._take()  # no flusher at the end of the run: written here
            assert taken is not None
            data = taken
        await self._write_now(data)

    async def drain(self) -> None:
        """Wait until nothing is queued and no write is under way (the caller bounds it:
        past its deadline nothing is waited for, and what is queued is dropped with the stream)."""
        while self._writing:
            await self._wait()

    @property
    def stuck(self) -> bool:
        """A write is still under way (after `drain` gave up: the peer reads nothing)."""
        return self._writing

    def _queue(self, data: bytes | bytearray, now: float) -> None:
        if self._out is None:
            self._out = [data]
            self._since = now
        else:
            self._out.append(data)
        self._out_bytes += len(data)

    def _take(self) -> bytes | bytearray | None:
        out = self._out
        if not out:
            return None
        self._out, self._out_bytes = None, 0
        self._wake()  # below the high-water mark again
        return out[0] if len(out) == 1 else b"".join(out)

    async def _wait(self) -> None:
        if self._waiters is None:
            self._waiters = []
        await park(self._waiters)

    def _wake(self) -> None:
        if self._waiters is not None:
            wake_all(self._waiters)
            self._waiters = None  # an idle connection keeps no list

    def _start_flusher(self) -> bool:
        try:
            spawn_system_task(self._flush, name="wsctl-flush")
        except RuntimeError:  # the run is ending (an async generator's finalizer)
            return False
        self._writing = True
        return True

    async def _write_now(self, data: bytes | bytearray) -> None:
        """The sending task writes its frame; what others queued meanwhile goes to the
        flusher, so that this task (perhaps the reader, answering a ping) goes on."""
        self._writing = True
        try:
            await self._stream.send_all(data)
        except _LOST:
            self._lost()
            raise WriteFailed from None
        except BaseException:
            # cancelled (or failed) part-way: how much of the frame the stream took is
            # unknown, and a frame written after it would be read as the rest of its
            # payload.  The stream is lost, as trio's SSLStream breaks itself then too;
            # the connection closes it (`WebSocket._write`).
            self._lost()
            raise
        finally:
            self._writing = False
            self._done_at = trio.current_time()
            if self._out and not self.failed and not self._start_flusher():
                self._lost()  # nobody left to write them: the run is ending
            self._wake()

    async def _flush(self) -> None:
        """The flusher: send what is queued until nothing is (a system task: never raises)."""
        try:
            while (data := self._take()) is not None:
                await self._stream.send_all(data)
        except _LOST:
            self._lost()
        except trio.Cancelled:  # the run is ending
            self._lost()
            raise
        except Exception:  # a system task's exception would end the whole run
            log.exception("writing to the stream failed")
            self._lost()
        finally:
            self._writing = False
            self._done_at = trio.current_time()
            self._wake()

    def _lost(self) -> None:
        self.failed = True
        self._out, self._out_bytes = None, 0
