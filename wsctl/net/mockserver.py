"""`serve --replay FILE`: a mock device answering from a recording.

`replay_handler(path, ...)` returns the handler for `wsctl.net.server.serve`.
Per client connection: the recorded unsolicited messages (greeting,
telemetry, the device's own calls) are re-emitted at their recorded times
after the connection opened; each request is matched by
`wsctl.core.record.mock.MockMatcher` and answered with the recorded replies at
their recorded delays (both divided by ``speed``).  Replies to different
requests may overlap, as they did on the real device.  An unmatched request
is reported through ``on_unmatched`` and, with a profile, answered with the
protocol's error form.  Each connection has its own matcher, so several
clients replay independently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed
from wsctl.core.record.compare import Ignore
from wsctl.core.record.mock import Match, MockMatcher, MockScript
from wsctl.files.recording_reader import open_recording

log = logging.getLogger("wsctl.net.mock")


def load_script(
    path: str | os.PathLike[str],
    *,
    profile: Any = None,
    conn: int | None = None,
    strict: bool = False,
    warn: Callable[[str], Any] | None = None,
) -> MockScript:
    if conn is None:
        # the connection first, in a pass of its own: the recorded `open` of another
        # connection (one with no messages: a tool the proxy refused) must not be
        # what this connection's greeting and telemetry are timed from
        first = (event.conn for event in open_recording(path, strict=strict) if event.is_message)
        conn = next(first, None)
        first.close()
    reader = open_recording(path, strict=strict, warn=warn)
    return MockScript.from_events(reader, profile=profile, conn=conn)


#: a recorded wait longer than this is announced before it begins (a gap of
#: 10^9 s in a file from elsewhere would otherwise look like a hang)
LONG_GAP = 60.0


def long_waits(script: MockScript, speed: float = 1.0) -> list[str]:
    """The recorded waits of a mock longer than `LONG_GAP` (after ``speed``), for a warning."""
    out = []
    previous = 0.0
    for item in script.unsolicited:
        if (item.at - previous) / speed > LONG_GAP:
            out.append(f"{(item.at - previous) / speed:g} s before unsolicited message at +{item.at:g} s")
        previous = item.at
    for exchange in script.exchanges:
        slow = max((r.delay for r in exchange.replies), default=0.0) / speed
        if slow > LONG_GAP:
            out.append(f"{slow:g} s before a reply to request {exchange.index + 1}")
    return out


#: a mock device's answers under way at once per connection (each a task)
MAX_ANSWERS_IN_FLIGHT = 256


def replay_handler(
    recording: str | os.PathLike[str] | MockScript,
    *,
    profile: Any = None,
    ignore: Sequence[str] | Ignore = (),
    speed: float = 1.0,
    conn: int | None = None,
    strict: bool = False,
    unsolicited: bool = True,
    on_unmatched: Callable[[Any, str | bytes], Any] | None = None,
    on_match: Callable[[Any, Match], Any] | None = None,
) -> Callable[[Any], Any]:
    """The ``async def handler(conn)`` of a mock device.  The recording is read
    once, here (errors surface before the server starts)."""
    script = (
        recording
        if isinstance(recording, MockScript)
        else load_script(recording, profile=profile, conn=conn, strict=strict)
    )
    rules = ignore if isinstance(ignore, Ignore) else Ignore(ignore)
    if speed <= 0:
        raise ValueError("speed must be > 0")

    async def handler(peer: Any) -> None:
        matcher = MockMatcher(script, ignore=rules)
        opened = trio.current_time()
        # answers under way at once: past it the reader waits, so a client that sends
        # and never reads is held back by TCP instead of by a task per request
        in_flight = trio.Semaphore(MAX_ANSWERS_IN_FLIGHT)

        async def emit_unsolicited() -> None:
            for item in script.unsolicited:
                await trio.sleep_until(opened + item.at / speed)
                await peer.send(item.message)

        async def answer(match: Match, arrived: float) -> None:
            try:
                for reply in match.replies:
                    await trio.sleep_until(arrived + reply.delay / speed)
                    await peer.send(reply.message)
            finally:
                in_flight.release()

        async def guarded(fn: Callable[..., Any], *args: Any) -> None:
            try:
                await fn(*args)
            except ConnectionClosed:
                pass  # the client left while we were still talking

        async with trio.open_nursery() as nursery:
            if unsolicited and script.unsolicited:
                nursery.start_soon(guarded, emit_unsolicited)
            async for message in peer:
                arrived = trio.current_time()
                match = matcher.match(message)
                if match is None:
                    log.info("%s: request not in the recording: %r", getattr(peer, "remote", "?"), message[:200])
                    if on_unmatched is not None:
                        on_unmatched(peer, message)
                    error = matcher.unmatched_reply(message)
                    if error is not None:
                        await peer.send(error)
                    continue
                if on_match is not None:
                    on_match(peer, match)
                await in_flight.acquire()
                nursery.start_soon(guarded, answer, match, arrived)
            nursery.cancel_scope.cancel()

    handler.script = script  # type: ignore[attr-defined]
    return handler
