"""Reconnect with exponential backoff and jitter (`watch`, `record capture`, the simulator's dial).

The recording proxy does not re-dial for a tool: each tool connection is
bridged to an upstream connection of its own, a lost upstream closes the tool
with 1011, and the tool's next connection gets a new one (docs/design.md).

The schedule is `wsctl.core.backoff.Backoff`; here the loop.  A session that
ran for at least ``reset_after`` seconds (from when the device was open,
not from when the connect began) resets the schedule, so a device that
drops once a day is retried quickly, while one that accepts and immediately
closes backs off.  Only failures a retry can cure are retried: connect errors,
timeouts, closed connections and HTTP 5xx.  A TLS failure (unknown CA, changed
certificate, revoked operator) or a 4xx will not heal by waiting and is raised.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from wsctl.core.backoff import Backoff
from wsctl.core.errors import ConnectError, ConnectionClosed, HandshakeRejected, Timeout, WsctlError

log = logging.getLogger("wsctl.net.reconnect")


@dataclasses.dataclass(frozen=True)
class Gap:
    """Reported to ``on_gap`` before each wait: the output/recording marks it."""

    attempt: int  # 1 for the first retry after a loss
    delay: float  # seconds we are about to wait
    error: WsctlError  # why the last connection ended or failed


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, HandshakeRejected):
        return exc.status is not None and exc.status >= 500
    return isinstance(exc, (ConnectError, Timeout, ConnectionClosed))


DEFAULT_BACKOFF = Backoff()


async def run_with_reconnect(
    connect: Callable[[], AbstractAsyncContextManager[Any]],
    session: Callable[[Any], Awaitable[Any]],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    reset_after: float = 10.0,
    on_gap: Callable[[Gap], Awaitable[None] | None] | None = None,
    rng: random.Random | None = None,
) -> Any:
    """Open with ``connect()``, run ``session(device)``; on a retryable failure
    wait and do it again.  Returns what ``session`` returns when it returns.

    Raises the last error when ``backoff.max_attempts`` retries are used up,
    and any non-retryable error at once.  ``on_gap`` may be ``async``: it is
    awaited before the wait.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        connected: float | None = None  # when the device was open: a slow failed connect is not a session
        try:
            async with connect() as device:
                connected = trio.current_time()
                return await session(device)
        except WsctlError as exc:
            if not retryable(exc):
                raise
            error = exc
        if connected is not None and trio.current_time() - connected >= reset_after:
            attempt = 0
        if backoff.max_attempts is not None and attempt >= backoff.max_attempts:
            raise error
        delay = backoff.delay(attempt, rng)
        attempt += 1
        gap = Gap(attempt=attempt, delay=delay, error=error)
        log.info("connection lost (%s); retry %d in %.2f s", error, attempt, delay)
        if on_gap is not None:
            reported = on_gap(gap)
            if inspect.isawaitable(reported):  # an async def on_gap
                await reported
        await trio.sleep(delay)
