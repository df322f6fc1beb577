"""Running a scenario against a device: one connection per case, steps in order.

Only the public client API is used (`open_device(profile=...)`, `Device.call`,
`Device.events`, `Device.send`).  What arrives beside the replies is kept in
a backlog from the moment the connection opens, so a `wait` finds a
BootNotification that came before its step ran (waits take events in the
order they arrived: each looks after the event the previous one took); a raw message's reply is the
first message after it that the profile matched to no call.  Judging is
`wsctl.core.scenario.verdict`'s; this module only moves things and keeps time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio

from wsctl.core.errors import ConnectError, HandshakeRejected, TLSError, WsctlError
from wsctl.core.pointer import MISSING
from wsctl.core.profile.events import DeviceRequest, Malformed, Telemetry, Unmatched
from wsctl.core.scenario import verdict as judge
from wsctl.core.scenario.checks import as_text
from wsctl.core.scenario.format import WAIT_TIMEOUT, Case, Scenario, Step
from wsctl.net.api import open_device

#: events kept for `wait` steps; older ones are dropped first
BACKLOG = 1000
#: failures to connect that the next case would meet again: its cases are not tried
_UNREACHABLE = (ConnectError, TLSError, HandshakeRejected)


def _parse(raw: str | bytes) -> Any:
    if isinstance(raw, bytes):
        return raw.hex()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


class _Backlog:
    """Events in arrival order, each taken by at most one step."""

    def __init__(self) -> None:
        self.items: list[tuple[int, Any]] = []
        self.seq = 0
        self.changed = trio.Event()

    def push(self, item: Any) -> None:
        self.seq += 1
        self.items.append((self.seq, item))
        del self.items[:-BACKLOG]
        self.changed.set()
        self.changed = trio.Event()

    def take(self, seq: int) -> None:
        self.items = [(n, it) for n, it in self.items if n != seq]


def _event_view(item: Any) -> tuple[set[str], Any, Any]:
    """(names a wait step may use, payload, wsctl's answer) of a session event."""
    if isinstance(item, (Telemetry, DeviceRequest)):
        names = {item.name, *((item.event.key,) if item.event is not None else ())}
        answer = _parse(item.answer) if isinstance(item, DeviceRequest) and item.answer is not None else MISSING
        return names, item.payload, answer
    return set(), None, MISSING


class _CaseRun:
    def __init__(self, device: Any, profile: Any, backlog: _Backlog, variables: dict[str, Any]) -> None:
        self.device = device
        self.profile = profile
        self.backlog = backlog
        self.variables = variables
        #: the sequence number of the event the last wait took
        self.cursor = 0

    async def step(self, step: Step) -> judge.StepFailure | None:
        if step.action == "sleep":
            await trio.sleep(step.target)
            return None
        if step.action == "wait":
            return await self.wait(step)
        if step.action == "raw":
            return await self.raw(step)
        params, failure = judge.bind(step, self.variables, step.params)
        if failure is not None:
            return failure
        try:
            reply = await self.device.call(step.target, timeout=step.timeout, **params)
        except WsctlError as exc:
            return judge.judge_refusal(step, exc.kind, exc.message)
        return judge.judge_reply(step, reply, self.variables)

    async def wait(self, step: Step) -> judge.StepFailure | None:
        """The first event of the step's kind after the one the previous wait
        took that meets the expectations: waits follow the order events arrived in."""
        limit = step.timeout or WAIT_TIMEOUT
        last: Any = MISSING
        last_mismatches: list = []
        with trio.move_on_after(limit):
            while True:
                changed = self.backlog.changed
                for seq, item in list(self.backlog.items):
                    names, payload, answer = _event_view(item)
                    if seq <= self.cursor or step.target not in names:
                        continue
                    found = judge.mismatches(step, payload, answer, self.variables)
                    if isinstance(found, judge.StepFailure):
                        return found
                    if not found:
                        self.backlog.take(seq)
                        self.cursor = seq
                        return judge.judge_reply(step, payload, self.variables, answer)
                    last, last_mismatches = payload, found
                await changed.wait()
        return judge.timed_out(step, limit, last, last_mismatches)

    async def raw(self, step: Step) -> judge.StepFailure | None:
        text, failure = judge.bind(step, self.variables, step.target)
        if failure is not None:
            return failure
        text = as_text(text)  # "${n}" alone is n's value: sent as its JSON text
        mark = self.backlog.seq
        try:
            await self.device.send(text)
        except WsctlError as exc:
            return judge.judge_refusal(step, exc.kind, exc.message)
        if not step.waits_for_reply:
            return None
        limit = step.timeout or self.profile.default_timeout
        with trio.move_on_after(limit):
            while True:
                changed = self.backlog.changed
                for seq, item in list(self.backlog.items):
                    if seq > mark and isinstance(item, (Unmatched, Malformed)):
                        self.backlog.take(seq)
                        return judge.judge_reply(step, _parse(item.raw), self.variables)
                await changed.wait()
        return judge.StepFailure(step, f"no reply to the raw message within {limit:g} s")


async def run_case(
    case: Case, url: str, kwargs: dict[str, Any], profile: Any, variables: dict[str, Any]
) -> tuple[judge.CaseVerdict, WsctlError | None]:
    """The case's verdict, and the error that kept it from connecting (or None)."""
    started = trio.current_time()
    steps_done = 0
    failure: judge.StepFailure | None = None
    opened = False
    try:
        async with open_device(url, profile=profile, **kwargs) as device:
            opened = True
            backlog = _Backlog()

            async def collect() -> None:
                async for item in device.events():
                    backlog.push(item)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect)
                run = _CaseRun(device, profile, backlog, dict(variables))
                for step in case.steps:
                    failure = await run.step(step)
                    steps_done = step.number
                    if failure is not None:
                        break
                nursery.cancel_scope.cancel()
    except WsctlError as exc:
        elapsed = trio.current_time() - started
        if opened:
            return judge.errored(case.name, exc.message, exc.kind, len(case.steps), elapsed, steps_done), None
        # "cannot connect" only where that is what happened: a TLS or upgrade failure says so itself
        reason = f"cannot connect: {exc.message}" if exc.kind in ("connect", "timeout") else exc.message
        return judge.errored(case.name, reason, exc.kind, len(case.steps), elapsed), exc
    elapsed = trio.current_time() - started
    if failure is not None:
        return judge.failed(case.name, failure, len(case.steps), elapsed), None
    return judge.passed(case.name, len(case.steps), elapsed), None


async def run_scenario(
    scenario: Scenario,
    url: str,
    kwargs: dict[str, Any],
    profile: Any,
    *,
    cases: tuple[Case, ...] | None = None,
    variables: dict[str, Any] | None = None,
    on_case: Callable[[judge.CaseVerdict], Any] | None = None,
) -> judge.SuiteResult:
    """Every case in order, each on its own connection; a target that refuses
    TLS or the connection is not tried again for the remaining cases."""
    result = judge.SuiteResult(scenario, url)
    values = {**scenario.variables, **(variables or {})}
    blocked: WsctlError | None = None
    for case in cases if cases is not None else scenario.cases:
        if blocked is not None:
            verdict = judge.errored(case.name, f"not run: {blocked.message}", blocked.kind, len(case.steps), 0.0)
        else:
            verdict, error = await run_case(case, url, kwargs, profile, values)
            if isinstance(error, _UNREACHABLE):
                blocked = error
        result.verdicts.append(verdict)
        if on_case is not None:
            on_case(verdict)
    return result
