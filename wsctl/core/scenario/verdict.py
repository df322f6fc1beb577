"""Judging steps and cases: what the runner saw in, verdicts out.

A case passes when every step met its expectations; it fails at the first
step that did not (the reason names the step, the diff lists what differed);
it is an error when it could not be run (no connection).  The runner feeds
replies, events, refusals and elapsed times; nothing here waits or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsctl.core.exit_table import ExitCode
from wsctl.core.pointer import MISSING, resolve
from wsctl.core.scenario.checks import Mismatch, UnknownVariable, evaluate, search, show, substitute
from wsctl.core.scenario.format import Scenario, Step

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True)
class StepFailure:
    step: Step
    reason: str
    diff: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return f"{self.step.label}: {self.reason}"


@dataclass(frozen=True)
class CaseVerdict:
    name: str
    verdict: str
    time: float
    steps_run: int
    steps: int
    reason: str | None = None
    diff: tuple[str, ...] = ()
    #: for errors: the exit kind of what stopped the case (connect, tls ...)
    kind: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        """OK for a pass; else the exit code named by `kind` (7 for a failure)."""
        if self.verdict == PASS:
            return ExitCode.OK
        return (
            ExitCode[self.kind.upper()] if self.kind and self.kind.upper() in ExitCode.__members__ else ExitCode.ERROR
        )

    def as_dict(self) -> dict[str, Any]:
        """The case's JSON line; a failure or error also carries the one error
        vocabulary (`error`, `message`, `exit_code`: docs/exit-codes.md), of
        which `kind` and `reason` are the older names."""
        out = {
            "case": self.name,
            "verdict": self.verdict,
            "time": round(self.time, 4),
            "steps_run": self.steps_run,
            "steps": self.steps,
            "reason": self.reason,
            "diff": list(self.diff),
            "kind": self.kind,
        }
        if self.verdict != PASS:
            code = self.exit_code
            out.update(error=code.name.lower(), message=self.reason or code.name.lower(), exit_code=int(code))
        return out


def passed(name: str, steps: int, time: float) -> CaseVerdict:
    return CaseVerdict(name, PASS, time, steps, steps)


def failed(name: str, failure: StepFailure, steps: int, time: float) -> CaseVerdict:
    return CaseVerdict(name, FAIL, time, failure.step.number, steps, failure.message, failure.diff, "device_error")


def errored(name: str, reason: str, kind: str, steps: int, time: float, steps_run: int = 0) -> CaseVerdict:
    return CaseVerdict(name, ERROR, time, steps_run, steps, reason, (), kind)


def bind(step: Step, variables: dict[str, Any], value: Any) -> tuple[Any, StepFailure | None]:
    """``value`` (the step's params or raw text) with variables filled in."""
    try:
        return substitute(value, variables), None
    except UnknownVariable as exc:
        return None, StepFailure(step, f"variable ${{{exc.name}}} is not set")


def mismatches(step: Step, document: Any, answer: Any, variables: dict[str, Any]) -> list[Mismatch] | StepFailure:
    """What ``document`` (and, for a device request, wsctl's ``answer``) does not meet."""
    try:
        found = evaluate(step.expect, document, variables)
        if step.answer:
            found += [Mismatch(f"answer{m.pointer}", m.wanted, m.got) for m in evaluate(step.answer, answer, variables)]
    except UnknownVariable as exc:
        return StepFailure(step, f"variable ${{{exc.name}}} is not set")
    return found


def judge_reply(step: Step, document: Any, variables: dict[str, Any], answer: Any = MISSING) -> StepFailure | None:
    """A reply (or an awaited event) arrived; on success, its `save`s go into ``variables``."""
    if step.refused is not None:
        return StepFailure(
            step, f"expected a refusal ({step.refused.kind}), got a reply", (f"reply: {show(document, 400)}",)
        )
    found = mismatches(step, document, answer, variables)
    if isinstance(found, StepFailure):
        return found
    if found:
        lines = tuple(m.line() for m in found)
        return StepFailure(
            step, f"{len(found)} expectation(s) not met: {lines[0]}", (*lines, f"reply: {show(document, 400)}")
        )
    kept = {}
    for save in step.save:
        value = resolve(answer if save.source == "answer" else document, save.pointer)
        if value is MISSING:
            where = "the answer" if save.source == "answer" else "the reply"
            return StepFailure(
                step,
                f"cannot save ${{{save.name}}}: {save.pointer} is absent in {where}",
                (f"reply: {show(document, 400)}",),
            )
        kept[save.name] = value
    variables.update(kept)
    return None


def judge_refusal(step: Step, kind: str, message: str) -> StepFailure | None:
    """The step ended in an error of exit kind ``kind``: expected, or the failure."""
    expected = step.refused
    if expected is None:
        return StepFailure(step, f"{kind}: {message}", (f"expected a reply, got {kind}: {message}",))
    if kind != expected.kind:
        return StepFailure(
            step,
            f"expected a refusal ({expected.kind}), got {kind}: {message}",
            (f"expected kind: {expected.kind}", f"got kind: {kind}"),
        )
    if expected.message is not None and not search(expected.message, message):
        return StepFailure(
            step,
            f"refused as expected ({kind}), but the message does not match /{expected.message}/",
            (f"message: {message}",),
        )
    return None


def timed_out(
    step: Step, seconds: float, last: Any = MISSING, last_mismatches: list[Mismatch] | None = None
) -> StepFailure:
    """A wait that saw no matching event in time: says what did arrive."""
    if last is MISSING:
        return StepFailure(step, f"no {step.target} event within {seconds:g} s")
    lines = tuple(m.line() for m in last_mismatches or ())
    return StepFailure(
        step,
        f"no {step.target} event as expected within {seconds:g} s; the last one: {lines[0] if lines else show(last)}",
        (*lines, f"last {step.target}: {show(last, 400)}"),
    )


@dataclass
class SuiteResult:
    scenario: Scenario
    #: the URL tested, without its password (`public_url`)
    target: str
    verdicts: list[CaseVerdict] = field(default_factory=list)

    def __post_init__(self) -> None:
        # reports and JUnit files are CI artifacts: never the URL's password
        from wsctl.core.urls import public_url

        self.target = public_url(self.target)

    def counts(self) -> dict[str, int]:
        out = {PASS: 0, FAIL: 0, ERROR: 0}
        for v in self.verdicts:
            out[v.verdict] += 1
        return out

    @property
    def ok(self) -> bool:
        return all(v.verdict == PASS for v in self.verdicts)

    def exit_code(self) -> ExitCode:
        """0 all passed; 7 when a case failed; else the kind of the first error."""
        if any(v.verdict == FAIL for v in self.verdicts):
            return ExitCode.DEVICE_ERROR
        return next((v.exit_code for v in self.verdicts if v.verdict == ERROR), ExitCode.OK)

    def as_dict(self, *, started: str, time: float) -> dict[str, Any]:
        s = self.scenario
        return {
            "format": "wsctl-test-report/1",
            "scenario": {"id": s.id, "title": s.title, "version": s.version, "source": s.source},
            "target": self.target,
            "started": started,
            "time": round(time, 4),
            "ok": self.ok,
            "counts": self.counts(),
            "cases": [v.as_dict() for v in self.verdicts],
        }


def junit_cases(result: SuiteResult, planned: tuple[Any, ...] = (), why_not_run: str = "interrupted") -> list[Any]:
    """One JUnit test case per scenario case: failures carry the reason and the
    diff; ``planned`` cases without a verdict (the run was interrupted) are skipped."""
    from wsctl.core.junit import JUnitCase

    outcome = {PASS: "pass", FAIL: "failure", ERROR: "error"}
    cases = [
        JUnitCase(
            v.name, result.scenario.id, v.time, outcome[v.verdict], v.reason or "", "\n".join(v.diff), v.kind or ""
        )
        for v in result.verdicts
    ]
    judged = {v.name for v in result.verdicts}
    cases += [
        JUnitCase(c.name, result.scenario.id, 0.0, "skipped", f"not finished: {why_not_run}")
        for c in planned
        if c.name not in judged
    ]
    return cases
