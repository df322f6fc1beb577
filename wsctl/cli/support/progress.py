"""One status line on stderr for long work (`replay`, `record convert`).

It rewrites itself (carriage return, erase to the end of the line) at most
every `INTERVAL` seconds, and only where a person watches: stderr a
terminal, no ``--json``, no ``-v`` (whose own lines it would garble), and not
when the results themselves go to the same terminal as they are made.
`done` ends it with a newline, so what is printed after starts on a line of
its own.  Fleets have their own counter (`fleet.Progress`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

INTERVAL = 0.1


class StatusLine:
    def __init__(self, env: Any, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = env.stderr
        try:
            terminal = bool(env.stderr.isatty())
        except (AttributeError, ValueError):
            terminal = False
        self.enabled = enabled and terminal and not env.json and env.verbosity < 1
        self._clock = clock
        self._shown_at: float | None = None
        self._last = ""

    def show(self, text: str, *, now: bool = False) -> None:
        """TEXT as the line, unless one was shown less than `INTERVAL` ago (``now``: regardless)."""
        if not self.enabled:
            return
        at = self._clock()
        if not now and self._shown_at is not None and at - self._shown_at < INTERVAL:
            self._last = text
            return
        self._shown_at, self._last = at, ""
        self._stream.write(f"\r{text}\x1b[K")
        self._stream.flush()

    def done(self, text: str | None = None) -> None:
        """The last state (TEXT, or the last one held back), then a newline."""
        if not self.enabled or self._shown_at is None and text is None:
            return
        final = text if text is not None else self._last
        if final:
            self._stream.write(f"\r{final}\x1b[K")
        self._stream.write("\n")
        self._stream.flush()
        self._shown_at = None


class ByteCount:
    """``count(n)`` adds N bytes: a reader's progress (`files.recording_reader.open_recording(read=)`)."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, n: int) -> None:
        self.bytes += n
