"""Driving a replay plan against a device, on time.

Each send is due at an absolute deadline (`wsctl.core.record.replay.deadline`)
and we `trio.sleep_until` it: sleeping for the gaps one after the other would
add every scheduling delay to all later sends, and a long replay would drift.
A reader task collects whatever the device says meanwhile, so answers are
never held up by the sender.  Comparison happens once, at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, WsctlError
from wsctl.core.record.compare import ID_POINTERS, Ignore, Report, compare
from wsctl.core.record.replay import Plan, Send, deadline
from wsctl.net.session import Session


@dataclass
class Sent:
    send: Send
    #: when it was due, and when `device.send` returned (trio clock): the
    #: message is then in the kernel's socket buffer, on its way
    planned: float
    actual: float
    #: when the sender woke up to send it; ``actual - woke`` is what sending
    #: itself took (TLS encryption, a full socket buffer, backpressure)
    woke: float | None = None

    @property
    def error(self) -> float:
        """How late the message went out: measured after the send, since a
        timely wake-up followed by a slow send is still a late message."""
        return self.actual - self.planned


@dataclass
class ReplayResult:
    plan: Plan
    sent: list[Sent] = field(default_factory=list)
    #: (trio clock, message) of everything the device said
    received: list[tuple[float, str | bytes]] = field(default_factory=list)
    #: set when the device closed (or the connection died) during the replay
    closed: WsctlError | None = None
    report: Report | None = None

    @property
    def complete(self) -> bool:
        """Every planned send went out."""
        return len(self.sent) == len(self.plan.sends)

    def timing_errors(self) -> list[float]:
        """Send time minus due time, seconds, for sends due at a fixed time (anchor ``start``)."""
        return [s.error for s in self.sent if s.send.anchor == "start"]


async def replay(
    device: Any,
    plan: Plan,
    *,
    ignore: Ignore | None = None,
    reply_timeout: float = 10.0,
    on_send: Callable[[Sent], Any] | None = None,
    on_receive: Callable[[str | bytes], Any] | None = None,
    step: Callable[[Send], Awaitable[Any]] | None = None,
    id_pointers: Sequence[str] | None = ID_POINTERS,
    keep: Callable[[str | bytes], bool] | None = None,
) -> ReplayResult:
    """Send ``plan`` over ``device`` (a `Device`), collect the answers, compare.

    ``reply_timeout`` bounds every wait for answers (reply mode, and the end).
    ``step``: awaited before each send instead of its deadline (``--step``).
    ``id_pointers``: where answers carry their request id, to pair them by id
    (a device may answer concurrent requests in any order); None: in order.
    ``keep``: which device messages are answers (the plan must be built with
    the same filter); the others are neither waited for nor compared.
    """
    result = ReplayResult(plan)
    changed = trio.Event()

    def wake() -> None:
        nonlocal changed
        changed.set()
        changed = trio.Event()

    def arrived(item: Any) -> None:
        message = item.raw
        if on_receive is not None:
            on_receive(message)
        if keep is not None and not keep(message):
            return
        result.received.append((trio.current_time(), message))
        wake()

    # without a profile: every message is an answer to compare, nothing is answered
    session = Session(device, on_event=arrived)

    async def reader() -> None:
        await session.run()
        result.closed = session.closed_error
        wake()

    async def answers(count: int) -> None:
        with trio.move_on_after(reply_timeout):
            while len(result.received) < count and result.closed is None:
                await changed.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        start = trio.current_time()
        need = sum(1 for i in plan.after_send if i < 0)
        reply_at: float | None = None
        for send in plan.sends:
            if send.anchor == "reply":
                await answers(need)
                reply_at = trio.current_time()
            due = deadline(send, start=start, reply_at=reply_at)
            if step is not None:
                await step(send)
                due = trio.current_time()
            else:
                await trio.sleep_until(due)
            if result.closed is not None:
                break
            woke = trio.current_time()
            try:
                await device.send(send.message)
            except ConnectionClosed as exc:
                result.closed = exc
                break
            sent = Sent(send, due, trio.current_time(), woke)
            result.sent.append(sent)
            if on_send is not None:
                on_send(sent)
            need += send.expect
        if result.closed is None:
            await answers(len(plan.expected))
        nursery.cancel_scope.cancel()
    result.report = compare(plan.expected, [m for _, m in result.received], ignore, id_pointers=id_pointers)
    return result
