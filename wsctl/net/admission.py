"""Who may take a connection slot on the server, and when.

A connection is *pending* from its TCP accept until its WebSocket upgrade
request has been read (TLS handshake and HTTP upgrade, each bounded by the
handshake timeout), then *open* until it ends.  Peers that never finish a
handshake cost nothing but pending slots, and those are bounded on their own
so that they cannot lock out peers that do finish (issue 8, item 5):

- ``max_handshakes`` pending at once.  When full, a new connection evicts the
  oldest pending one: a stalled handshake is old, a real one takes
  milliseconds, so a flood of idle sockets cannot keep a real client out.
- ``max_handshakes_per_source`` pending per source address.  Further
  connections from that address wait for a slot of their own address (nothing
  is read from them meanwhile; the wait is bounded by the handshake timeout),
  so one address cannot evict everybody else's handshakes, while a burst of
  real clients from one address (a fleet run, a NAT) is served in turn
  rather than refused.  More than ``max_handshakes`` waiting from one address
  are refused at once, which bounds the sockets one address can hold.
- ``max_connections`` open at once; more are answered HTTP 503.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import trio

from wsctl.core.errors import InvalidInput

#: Default bounds (see the module doc); `serve` and `wsctl serve` take them as options.
MAX_HANDSHAKES = 128
MAX_HANDSHAKES_PER_SOURCE = 32


class Refused(Exception):
    """Why a connection got no handshake slot (for its access record)."""

    def __init__(self, outcome: str, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


@dataclasses.dataclass(eq=False, slots=True)
class Entry:
    """One connection as the admission sees it (slotted: one per open connection)."""

    source: str
    #: cancelled to evict the connection
    scope: trio.CancelScope
    #: the connection's access record: eviction writes its outcome
    record: Any
    state: str = "new"  # new -> pending -> open -> gone
    #: the handler's ServerConnection once the upgrade is accepted
    conn: Any = None
    #: the handler runs / the server cancelled it (``scope``) after failing the connection
    handling: bool = False
    stopped: bool = False


class _Source:
    __slots__ = ("pending", "lot")

    def __init__(self) -> None:
        self.pending = 0
        self.lot = trio.lowlevel.ParkingLot()


class Admission:
    def __init__(
        self,
        *,
        max_connections: int,
        max_handshakes: int = MAX_HANDSHAKES,
        max_handshakes_per_source: int = MAX_HANDSHAKES_PER_SOURCE,
    ) -> None:
        self.max_connections = max_connections
        self.max_handshakes = max_handshakes
        self.max_handshakes_per_source = max_handshakes_per_source
        self._pending: dict[Entry, None] = {}  # insertion order: oldest first
        self._sources: dict[str, _Source] = {}
        #: connections past their upgrade request
        self.open = 0
        #: connections evicted or refused so far
        self.refused = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def sources(self) -> int:
        """Addresses with handshakes pending or waiting."""
        return len(self._sources)

    def waiting(self, source: str) -> int:
        src = self._sources.get(source)
        return 0 if src is None else src.lot.statistics().tasks_waiting

    async def enter(self, entry: Entry, timeout: float) -> None:
        """Take a pending slot for ``entry``; raises `Refused`."""
        src = self._sources.setdefault(entry.source, _Source())
        limit = self.max_handshakes_per_source
        if src.pending >= limit:
            try:
                src = await self._wait_for_slot(entry.source, src, timeout)
            except BaseException:  # refused, timed out, or cancelled (shutdown) while waiting
                self._forget(entry.source)
                raise
        if len(self._pending) >= self.max_handshakes:
            self._evict(next(iter(self._pending)))
        src.pending += 1
        entry.state = "pending"
        self._pending[entry] = None

    async def _wait_for_slot(self, source: str, src: _Source, timeout: float) -> _Source:
        limit = self.max_handshakes_per_source
        if src.lot.statistics().tasks_waiting >= self.max_handshakes:
            self.refused += 1
            raise Refused(
                "refused", f"too many connections waiting from {source} (max_handshakes {self.max_handshakes})"
            )
        with trio.move_on_after(timeout):
            while src.pending >= limit:
                await src.lot.park()
        # the source's entry may have been forgotten and made anew meanwhile
        src = self._sources.setdefault(source, _Source())
        if src.pending >= limit:
            raise Refused(
                "timeout",
                f"no handshake slot within {timeout:g} s: {limit} handshakes already pending from {source} (max_handshakes_per_source)",
            )
        return src

    def upgraded(self, entry: Entry) -> bool:
        """The upgrade request is in: pending → open.  False when over max_connections."""
        self._release(entry)
        entry.state = "open"
        self.open += 1
        return self.open <= self.max_connections

    def leave(self, entry: Entry) -> None:
        if entry.state == "pending":
            self._release(entry)
        elif entry.state == "open":
            self.open -= 1
        entry.state = "gone"

    def _evict(self, victim: Entry) -> None:
        self._release(victim)
        victim.state = "gone"
        self.refused += 1
        rec = victim.record
        rec.outcome = "refused"
        rec.error = f"handshake not finished, dropped for a newer connection: {self.max_handshakes} handshakes pending (max_handshakes)"
        victim.scope.cancel()

    def _release(self, entry: Entry) -> None:
        if entry.state != "pending":
            return
        del self._pending[entry]
        src = self._sources[entry.source]
        src.pending -= 1
        src.lot.unpark()
        self._forget(entry.source)

    def _forget(self, source: str) -> None:
        src = self._sources.get(source)
        if src is not None and src.pending == 0 and not src.lot.statistics().tasks_waiting:
            del self._sources[source]


def check_limits(*, handshake_timeout: float, close_timeout: float, **counts: int) -> None:
    """The server's timeouts are positive seconds and its counts at least 1 (InvalidInput otherwise)."""
    for name, value in (("handshake_timeout", handshake_timeout), ("close_timeout", close_timeout)):
        if not (value > 0 and math.isfinite(value)):
            raise InvalidInput(f"{name} must be a positive number of seconds")
    for name, count in counts.items():
        if count < 1:
            raise InvalidInput(f"{name} must be at least 1")
