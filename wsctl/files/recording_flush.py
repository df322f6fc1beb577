"""The one thread that writes recorders' batches that have waited long enough.

A `Recorder` collects the lines of a burst of messages and writes them with one
``write``; a batch that does not fill up (the device went quiet) is written by
this thread once its first line has waited the recorder's flush interval.
That interval bounds what ``kill -9`` can lose, also when the session sits
idle and no later message would trigger the write.

One thread per process, not per recorder: the hub records every device
connection, thousands at once.  It sleeps until the earliest due batch, and
without pending batches it waits without a timeout: an idle process does not
wake up for it.  Each recorder is in the queue at most once.

Locks: a recorder calls `schedule` holding its own lock, so this thread never
takes a recorder's lock while holding the queue's.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Flushable(Protocol):
    def flush_due(self, now: float) -> float | None:
        """Write the batch if it is due; the time the next one is due, or None."""


class Flusher:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        # also in a forked child, which has none of its parent's threads
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[tuple[float, int, Flushable]] = []
        self._order = itertools.count()  # ties never compare recorders
        self._thread: threading.Thread | None = None

    def schedule(self, target: Flushable, due: float) -> None:
        """Flush ``target`` at ``due`` (its clock); the caller holds it out of the queue until then."""
        with self._cond:
            earliest = self._queue[0][0] if self._queue else None
            heapq.heappush(self._queue, (due, next(self._order), target))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wsctl-record-flush", daemon=True)
                self._thread.start()
            elif earliest is None or due < earliest:
                self._cond.notify()

    def _next_due(self) -> list[Flushable]:
        with self._cond:
            while True:
                if not self._queue:
                    self._cond.wait()
                    continue
                wait = self._queue[0][0] - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                now = self._clock()
                due = []
                while self._queue and self._queue[0][0] <= now:
                    due.append(heapq.heappop(self._queue)[2])
                return due

    def _run(self) -> None:
        while True:
            for target in self._next_due():
                self._flush(target)

    def _flush(self, target: Flushable, now: float | None = None) -> None:
        # a recorder that failed keeps its error for its own next write; this
        # thread must outlive it, so nothing escapes from here
        try:
            again = target.flush_due(self._clock() if now is None else now)
        except Exception:  # noqa: BLE001 - see above
            return
        if again is not None:
            self.schedule(target, again)

    def flush_all(self) -> None:
        """Write every pending batch now (at interpreter exit: a recorder that was never closed)."""
        with self._cond:
            targets = [entry[2] for entry in self._queue]
            self._queue.clear()
        for target in targets:
            self._flush(target, now=float("inf"))  # everything is due


FLUSHER = Flusher()
atexit.register(lambda: FLUSHER.flush_all())
os.register_at_fork(after_in_child=lambda: FLUSHER._reset())
