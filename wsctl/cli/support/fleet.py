"""Fan a client job out to many devices with a bound on concurrency.

Each device's job runs in its own guarded task: one device failing never
cancels the others.  Results are reported as they complete (one line per device)
and the overall exit code is 0 only when every device succeeded.

While a fleet runs, the garbage collector is set as for a server
(`collector_for_fleet`): each connection leaves objects that live for one
handshake or one call, and at Python's default young threshold they
outlived two young collections and were walked again and again by the older
ones: 430 collections and 0.48 s of CPU for 1,000 devices, a tenth of the
process's CPU (docs/performance.md, fan-out).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, NamedTuple

from wsctl.core.device_entry import DeviceEntry
from wsctl.core.errors import WsctlError
from wsctl.core.exit_table import ExitCode


class Outcome(NamedTuple):  # not a dataclass: cheaper to build at every client's start-up
    device: str
    ok: bool
    elapsed: float
    value: Any = None
    error: WsctlError | None = None


def overall_exit_code(outcomes: list[Outcome]) -> ExitCode:
    """0 if all succeeded; the shared exit code if all failures agree; else 1."""
    return shared_exit_code(o.error.exit_code for o in outcomes if not o.ok and o.error is not None)


def shared_exit_code(codes: Iterable[int]) -> ExitCode:
    """A fleet's exit code from its devices' codes: 0 when none failed, the code
    all failures share, else 1 (the one rule of every verb that fans out)."""
    failures = {ExitCode(code) for code in codes} - {ExitCode.OK}
    if not failures:
        return ExitCode.OK
    return failures.pop() if len(failures) == 1 else ExitCode.ERROR


class Progress:
    """`[37/500] 2 failed` on stderr while a fleet runs — only when stderr is a
    terminal and stdout is not (results go to a file or a pipe), never with
    --json: progress must not mix into what scripts parse."""

    def __init__(self, env: Any, total: int) -> None:
        self.stream = env.stderr
        try:
            tty = env.stderr.isatty() and not env.stdout_isatty
        except (AttributeError, ValueError):
            tty = False
        self.enabled = tty and not env.json and total > 1
        self.total = total
        self.done = 0
        self.failed = 0

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.ok else 1
        if self.enabled:
            failed = f"  {self.failed} failed" if self.failed else ""
            self.stream.write(f"\r[{self.done}/{self.total}]{failed}\x1b[K")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


@contextlib.contextmanager
def collector_for_fleet() -> Iterator[None]:
    """`wsctl.net.gc_tuning`'s settings for the duration of a fleet run: what
    start-up built (modules, profiles, the inventory, TLS contexts) is frozen
    out of every collection, and the young generation's threshold raised so
    per-connection objects die young.  Both are undone afterwards."""
    from wsctl.net.gc_tuning import YOUNG_THRESHOLD

    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def fan_out(
    entries: list[DeviceEntry],
    job: Callable[[DeviceEntry], Awaitable[Any]],
    *,
    parallel: int,
    on_done: Callable[[Outcome], None],
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    import trio

    from wsctl.cli.support.errors import classify

    limiter = trio.CapacityLimiter(max(1, parallel))
    outcomes: list[Outcome] = []

    async def one(entry: DeviceEntry) -> None:
        async with limiter:
            start = time.monotonic()
            try:
                value = await job(entry)
            except WsctlError as exc:
                import os

                from wsctl.cli.support.store_files import client_certificate_hint

                client_certificate_hint(exc, dict(os.environ))
                outcome = Outcome(entry.name, False, time.monotonic() - start, error=exc)
            except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the fleet
                code, cause, message = classify(exc)
                err = WsctlError(message)
                err.exit_code, err.cause = code, cause
                outcome = Outcome(entry.name, False, time.monotonic() - start, error=err)
            else:
                outcome = Outcome(entry.name, True, time.monotonic() - start, value=value)
        outcomes.append(outcome)
        on_done(outcome)
        if progress is not None:
            progress(outcome)

    from wsctl.net.tls import files_rechecked_every_second

    # one look at the TLS files per second for the whole fleet, not one per device
    with collector_for_fleet(), files_rechecked_every_second():
        async with trio.open_nursery() as nursery:
            for entry in entries:
                nursery.start_soon(one, entry)
    return outcomes
