"""Reconnect delays: exponential backoff with jitter, as a pure schedule.

The loop that sleeps and reconnects lives in `wsctl.net.reconnect`; here only the
numbers, so they are tested without clocks.  "Full jitter" (a uniform draw in
[0, cap]) spreads a fleet of clients that lost the same server, which is what
keeps a restarted device from being hit by all its operators in the same
millisecond; "equal" jitter keeps at least half the delay.

Core is pure: the random source is the caller's (anything with
``uniform(a, b)``, e.g. a `random.Random` the network layer owns, or a seeded
one in a test); this module draws nothing by itself.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Protocol

from wsctl.core.errors import InvalidInput


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


#: the longest pause ``maximum`` may ask for: a day (a longer one is a bug, not a schedule)
MAX_DELAY = 86400.0


@dataclasses.dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: str = "full"  # "full" | "equal" | "none"
    max_attempts: int | None = None  # None: forever

    def __post_init__(self) -> None:
        if not all(math.isfinite(x) for x in (self.initial, self.maximum, self.multiplier)):
            raise InvalidInput("backoff: initial, maximum and multiplier must be finite numbers")
        if self.initial <= 0 or self.maximum < self.initial:
            raise InvalidInput("backoff: need 0 < initial <= maximum")
        if self.maximum > MAX_DELAY:
            raise InvalidInput(f"backoff: maximum must be at most {MAX_DELAY:g} s (a day)")
        if self.multiplier < 1:
            raise InvalidInput("backoff: multiplier must be >= 1")
        if self.jitter not in ("full", "equal", "none"):
            raise InvalidInput(f"backoff: unknown jitter {self.jitter!r}")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise InvalidInput("backoff: max_attempts must be >= 0")

    def cap(self, attempt: int) -> float:
        """The un-jittered delay before retry number ``attempt`` (0-based)."""
        # in logarithms: 2.0 ** 5000, or 1e6 ** 70, overflows a float
        if self.multiplier == 1 or attempt * math.log(self.multiplier) >= math.log(self.maximum / self.initial):
            return self.maximum if self.multiplier > 1 else self.initial
        return min(self.maximum, self.initial * self.multiplier**attempt)

    def delay(self, attempt: int, rng: RandomSource | None) -> float:
        """The pause before retry ``attempt``; ``rng`` may be None only without jitter."""
        cap = self.cap(attempt)
        if self.jitter == "none":
            return cap
        if rng is None:
            raise ValueError(f"backoff with {self.jitter} jitter needs the caller's random source")
        if self.jitter == "full":
            return rng.uniform(0, cap)
        return cap / 2 + rng.uniform(0, cap / 2)

    def delays(self, rng: RandomSource | None = None) -> Iterator[float]:
        """Delays before each retry; ends after ``max_attempts`` retries."""
        attempt = 0
        while self.max_attempts is None or attempt < self.max_attempts:
            yield self.delay(attempt, rng)
            attempt += 1
