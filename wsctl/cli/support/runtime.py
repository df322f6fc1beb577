"""Running async commands under trio with clean signal handling.

Trap 7 of the trio-websocket notes: under strict exception groups Ctrl-C arrives
as `BaseExceptionGroup[KeyboardInterrupt]`, and SIGTERM kills without cleanup.
Here both signals cancel the command's scope instead, so its `finally` and
`async with` blocks run (close frames are sent, recordings flushed), and then
`Interrupted` carries 130 or 143 to the one exit-code mapping in `cli.errors`.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any


def _unwrap(exc: BaseException) -> BaseException:
    """A group holding one error is that error: messages stay one line."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run_async(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    import trio

    from wsctl.core.errors import Interrupted

    received: list[int] = []

    async def guarded() -> Any:
        result = None
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def watch_signals(task_status=trio.TASK_STATUS_IGNORED) -> None:
                    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        task_status.started()
                        async for signum in signals:
                            received.append(signum)
                            scope.cancel()
                            return

                # started, not start_soon: a signal that arrives as soon as the
                # command runs must already find the receiver in place
                await nursery.start(watch_signals)
                result = await fn(*args)
                nursery.cancel_scope.cancel()
        if received:
            raise Interrupted(received[0])
        return result

    _collector_for_the_loop()
    try:
        return trio.run(guarded)
    except BaseExceptionGroup as group:
        if received:
            raise Interrupted(received[0]) from None
        raise _unwrap(group) from None


def _collector_for_the_loop() -> None:
    """Start-up is over (`wsctl.cli.main.main` raised the young threshold for it): from
    here on, young collections at the servers' and fleets' threshold, not the start-up one."""
    import gc

    from wsctl.net.gc_tuning import YOUNG_THRESHOLD

    young, middle, old = gc.get_threshold()
    if young > YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
