"""Driving a replay plan against a device, on time.

Each send is due at an absolute deadline (`wsctl.core.record.replay.deadline`)
and we sleep until it (`until`): sleeping for the gaps one after the other
would add every scheduling delay to all later sends, and a long replay would
drift.  A reader task collects whatever the device says meanwhile, so answers
are never held up by the sender.  Comparison happens once, at the end.
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


#: how long before a send is due the sender stops sleeping and yields instead:
#: trio's sleep ends in ``epoll_wait``, whose timeout Python rounds up to whole
#: milliseconds, so `trio.sleep_until` alone wakes 0-1 ms late (bench/bench_record.py)
SPIN = 0.0015
#: a wait for a send longer than this is announced before it begins (``on_gap``):
#: a recorded gap of 10^9 s would otherwise look like a hang
LONG_GAP = 60.0


async def until(due: float) -> None:
    """Return at ``due`` (trio clock): sleep until shortly before, then yield to
    the other tasks (the reader) until it is time."""
    if due - trio.current_time() > SPIN:
        await trio.sleep_until(due - SPIN)
    while trio.current_time() < due:
        await trio.sleep(0)


class _Answers:
    """What the device says during a replay, and waiting for enough of it."""

    def __init__(
        self, result: ReplayResult, on_receive: Callable[[str | bytes], Any] | None, keep: Any, *, keep_all: bool = True
    ) -> None:
        self.result = result
        self.on_receive = on_receive
        self.keep = keep
        #: False: nothing compares the answers, so past what the waits need only their number is kept
        self.keep_all = keep_all
        self.count = 0
        self.changed = trio.Event()

    def wake(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def arrived(self, item: Any) -> None:
        message = item.raw
        if self.on_receive is not None:
            self.on_receive(message)
        if self.keep is not None and not self.keep(message):
            return
        self.count += 1
        if self.keep_all or len(self.result.received) < len(self.result.plan.expected):
            self.result.received.append((trio.current_time(), message))
        self.wake()

    async def read(self, session: Session) -> None:
        await session.run()
        self.result.closed = session.closed_error
        self.wake()

    async def wait_for(self, count: int, timeout: float) -> None:
        with trio.move_on_after(timeout):
            while self.count < count and self.result.closed is None:
                await self.changed.wait()


async def _send_all(
    device: Any,
    answers: _Answers,
    *,
    reply_timeout: float,
    on_send: Callable[[Sent], Any] | None,
    step: Callable[[Send], Awaitable[Any]] | None,
    on_gap: Callable[[Send, float], Any] | None = None,
) -> None:
    """Send the plan's messages, each at its time (or at each ``step``)."""
    result = answers.result
    plan = result.plan
    start = trio.current_time()
    need = sum(1 for i in plan.after_send if i < 0)
    reply_at: float | None = None
    for send in plan.sends:
        if send.anchor == "reply":
            await answers.wait_for(need, reply_timeout)
            reply_at = trio.current_time()
        due = deadline(send, start=start, reply_at=reply_at)
        if step is not None:
            await step(send)
            due = trio.current_time()
        else:
            if on_gap is not None and due - trio.current_time() > LONG_GAP:
                on_gap(send, due - trio.current_time())
            await until(due)
        if result.closed is not None:
            return
        woke = trio.current_time()
        try:
            await device.send(send.message)
        except ConnectionClosed as exc:
            result.closed = exc
            return
        sent = Sent(send, due, trio.current_time(), woke)
        result.sent.append(sent)
        if on_send is not None:
            on_send(sent)
        need += send.expect


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
    on_gap: Callable[[Send, float], Any] | None = None,
    compare_answers: bool = True,
) -> ReplayResult:
    """Send ``plan`` over ``device`` (a `Device`), collect the answers, compare.

    ``reply_timeout`` bounds every wait for answers (reply mode, and the end).
    ``step``: awaited before each send instead of its deadline (``--step``).
    ``id_pointers``: where answers carry their request id, to pair them by id
    (a device may answer concurrent requests in any order); None: in order.
    ``keep``: which device messages are answers (the plan must be built with
    the same filter); the others are neither waited for nor compared.
    ``on_gap(send, seconds)``: told before a wait longer than `LONG_GAP` begins.
    ``compare_answers=False`` (``--no-compare``): no comparison at all, and of
    the answers only as many are kept as the waits count (`ReplayResult.received`).
    """
    result = ReplayResult(plan)
    answers = _Answers(result, on_receive, keep, keep_all=compare_answers)
    # without a profile: every message is an answer to compare, nothing is answered
    session = Session(device, on_event=answers.arrived)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answers.read, session)
        await _send_all(device, answers, reply_timeout=reply_timeout, on_send=on_send, step=step, on_gap=on_gap)
        if result.closed is None:
            await answers.wait_for(len(plan.expected), reply_timeout)
        nursery.cancel_scope.cancel()
    if compare_answers:
        result.report = compare(plan.expected, [m for _, m in result.received], ignore, id_pointers=id_pointers)
    else:  # the counts only: nothing was compared
        result.report = Report(expected=len(plan.expected), received=answers.count)
    return result
