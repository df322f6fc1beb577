"""How many audit lines EST refusals of anonymous clients may write.

A request that proved no identity (no credentials, a wrong password, a body
that is not a CSR) costs its sender one TLS connection per hundred requests,
and each refusal would cost the CA store one `audit.log` line: thousands a
second from one client, without bound.  So per source address such refusals
get `PER_WINDOW` full lines per `WINDOW` seconds; the rest of that window are
counted and written as one summary line ("N more refusals from ADDR
suppressed") once the window is over.  Refusals of requests that proved an
identity are always audited in full: they name who to ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: full audit lines per source address and window
PER_WINDOW = 5
#: seconds of a window
WINDOW = 60.0
#: source addresses followed at once; beyond, the oldest window is closed early
MAX_SOURCES = 4096


def source_address(remote: str) -> str:
    """The address of ``HOST:PORT`` or ``[V6]:PORT`` (what the EST server records), without the port."""
    if remote.startswith("["):
        return remote[1:].partition("]")[0]
    host, sep, _ = remote.rpartition(":")
    return host if sep else remote


class _Window:
    __slots__ = ("start", "written", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.written = 0
        self.suppressed = 0


class RefusalBudget:
    """Per source address: may this refusal be audited in full?

    ``summary(address, count)`` writes the line of the refusals a window
    suppressed.  Called by the enroller's worker thread and, for the windows
    nobody closes, by the server's sweep; a lock keeps the two apart.
    """

    def __init__(
        self,
        summary: Callable[[str, int], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        per_window: int = PER_WINDOW,
        window: float = WINDOW,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.summary = summary
        self.clock = clock
        self.per_window = per_window
        self.window = window
        self.max_sources = max_sources
        # insertion order is start order: a window is re-inserted when a new one starts
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, address: str) -> bool:
        """True: audit this refusal in full; False: it was counted for the summary."""
        with self._lock:
            now = self.clock()
            self._close_expired(now)
            window = self._windows.get(address)
            if window is None:
                if len(self._windows) >= self.max_sources:
                    self._close(next(iter(self._windows)))
                window = self._windows[address] = _Window(now)
            if window.written < self.per_window:
                window.written += 1
                return True
            window.suppressed += 1
            return False

    def sweep(self, *, everything: bool = False) -> None:
        """Write the summaries of the windows that are over (all of them: at shutdown)."""
        with self._lock:
            if everything:
                for address in list(self._windows):
                    self._close(address)
            else:
                self._close_expired(self.clock())

    def _close_expired(self, now: float) -> None:
        while self._windows:
            address, window = next(iter(self._windows.items()))
            if now - window.start < self.window:
                return
            self._close(address)

    def _close(self, address: str) -> None:
        window = self._windows.pop(address)
        if window.suppressed:
            self.summary(address, window.suppressed)
