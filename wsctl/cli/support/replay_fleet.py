"""`wsctl replay FILE --to GROUP`: one recording replayed to several devices side by side.

The plan (what is sent, when, what is expected back) is the recording's and
the same for every device; each device gets its own connection, schedule and
comparison, at most ``--parallel`` at a time.  Output: one ``replay`` result
line per device (with ``"device"``; its differences under it, each line
naming the device), an error result line for a device that could not be
reached; ``--junit`` one test case per send and device (the device as
classname).  The exit code is 0 when every device answered as recorded, the
code all failures share (7: answers differ, 10: closed early), else 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsctl.cli.support.env import Environment


@dataclass(frozen=True)
class ReplayTarget:
    entry: Any
    url: str
    kwargs: dict[str, Any]
    id_pointers: tuple[str, ...]


@dataclass(frozen=True)
class ReplaySettings:
    rules: Any
    reply_timeout: float
    keep: Any
    no_compare: bool
    mode: str


def run(env: Environment, plan: Any, targets: list[ReplayTarget], settings: ReplaySettings, *, parallel: int,
        junit: tuple[str, str] | None) -> int:  # fmt: skip
    """Replay to every target; ``junit``: (path, suite name)."""
    import time

    from wsctl.cli.support.fleet import Progress, fan_out, shared_exit_code
    from wsctl.cli.support.outcome import emit_outcome
    from wsctl.cli.support.replay_result import judged
    from wsctl.cli.support.runtime import run_async

    by_name = {t.entry.name: t for t in targets}
    codes: dict[str, int] = {}
    warned: set[int] = set()

    def on_gap(send: Any, seconds: float) -> None:
        if send.index not in warned:  # once for the fleet, not once per device
            from wsctl.cli.support.replay_result import long_gap_text

            warned.add(send.index)
            env.warn(long_gap_text(send, seconds))

    async def job(entry: Any) -> Any:
        from wsctl.net.api import open_device
        from wsctl.net.replayer import replay as run_replay

        target = by_name[entry.name]
        async with open_device(target.url, **target.kwargs) as dev:
            return await run_replay(
                dev, plan, ignore=settings.rules, reply_timeout=settings.reply_timeout, id_pointers=target.id_pointers,
                keep=settings.keep, on_gap=on_gap, compare_answers=not settings.no_compare,
            )  # fmt: skip

    def on_done(outcome: Any) -> None:
        if not outcome.ok:
            codes[outcome.device] = int(outcome.error.exit_code)
            emit_outcome(env, outcome, fleet=True, fields=lambda _: {}, human=str)
            return
        obj, lines, error = judged(outcome.value, plan, settings.no_compare, settings.mode)
        codes[outcome.device] = int(error.exit_code) if error is not None else 0
        if error is not None:
            lines = [*lines, f"FAIL: {error.message}"]
        env.emit({**obj, "device": outcome.device}, "\n".join(f"{outcome.device}: {line}" for line in lines))

    started_wall, started = time.time(), time.monotonic()
    outcomes = run_async(
        lambda: fan_out(
            [t.entry for t in targets], job, parallel=parallel, on_done=on_done, progress=Progress(env, len(targets))
        )
    )
    if junit is not None:
        _write_junit(junit, plan, outcomes, settings.no_compare, started_wall, time.monotonic() - started)
    return int(shared_exit_code(codes.values()))


def _write_junit(junit: tuple[str, str], plan: Any, outcomes: list[Any], no_compare: bool, started: float,
                 elapsed: float) -> None:  # fmt: skip
    from wsctl.cli.support.junit_file import write_junit
    from wsctl.core.junit import JUnitCase
    from wsctl.core.record.verdicts import replay_cases

    path, suite = junit
    cases = []
    for outcome in sorted(outcomes, key=lambda o: o.device):
        if not outcome.ok:
            error = outcome.error
            cases += [
                JUnitCase(f"send {s.index + 1}", outcome.device, 0.0, "error", error.message, "", error.kind)
                for s in plan.sends
            ]
            continue
        result = outcome.value
        closed = (
            f"the device closed the connection after {len(result.sent)} sends" if result.closed is not None else None
        )
        for case in replay_cases(plan, None if no_compare else result.report, len(result.sent), suite, closed=closed):
            cases.append(
                JUnitCase(case.name, outcome.device, case.time, case.outcome, case.message, case.detail, case.type)
            )
    write_junit(path, suite, cases, started=started, elapsed=elapsed)
