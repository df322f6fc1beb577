"""`wsctl test SCENARIO --to GROUP`: one scenario on several devices at once.

Every device is planned (its profile, its address, the scenario checked
against the profile) before anything is sent to any of them; then the
devices run side by side, at most ``--parallel`` at a time, each on its own
connections as one device's run would.  Output: each case line names its
device (``"device"`` in JSON), one ``summary`` per device, and a device that
could not be tested gets an error result line instead.  ``--report json``
is one document, ``wsctl-test-fleet/1``, with every device's report;
``--junit`` one test case per case and device (the device as classname).
The exit code is 0 when every case of every device passed, otherwise the
shared code when all failures agree (7: a case failed), else 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.core.exit_table import ExitCode


def case_lines(verdict: Any) -> str:
    """A case's verdict as `wsctl test` prints it: one line, the differences indented
    under it; names and texts from the file or the device escaped (`one_line`)."""
    from wsctl.cli.support.errors import one_line

    time = f"({verdict.time:.2f} s)"
    if verdict.verdict == "pass":
        return f"PASS  {one_line(verdict.name)} {time}"
    head = f"{'FAIL' if verdict.verdict == 'fail' else 'ERROR'} {one_line(verdict.name)} {time}: {one_line(verdict.reason or '')}"
    return "\n".join([head, *(f"        {one_line(line)}" for line in verdict.diff)])


@dataclass(frozen=True)
class DevicePlan:
    entry: Any
    url: str
    kwargs: dict[str, Any]
    profile: Any


class ScenarioFleet:
    def __init__(self, env: Environment, parsed: Any, plans: list[DevicePlan], *, cases: tuple, variables: dict,
                 report: str, parallel: int) -> None:  # fmt: skip
        self.env, self.parsed, self.plans = env, parsed, {p.entry.name: p for p in plans}
        self.cases, self.variables, self.report, self.parallel = cases, variables, report, parallel
        #: device -> the verdicts it finished (kept when the run is interrupted)
        self.finished: dict[str, list[Any]] = {name: [] for name in self.plans}

    def _on_case(self, device: str, verdict: Any) -> None:
        self.finished[device].append(verdict)
        if self.report != "json":
            self.env.emit(
                {"event": "case", "scenario": self.parsed.id, "device": device, **verdict.as_dict()},
                "\n".join(f"{device}: {line}" for line in case_lines(verdict).splitlines()),
            )

    async def _job(self, entry: Any) -> Any:
        from wsctl.net.scenario import run_scenario

        plan = self.plans[entry.name]
        return await run_scenario(
            self.parsed, plan.url, plan.kwargs, plan.profile, cases=self.cases, variables=self.variables,
            on_case=lambda verdict: self._on_case(entry.name, verdict),
        )  # fmt: skip

    def _on_done(self, outcome: Any) -> None:
        if outcome.ok:
            result = outcome.value
            if self.report != "json":
                counts = result.counts()
                self.env.emit(
                    {"event": "summary", "scenario": self.parsed.id, "device": outcome.device, "ok": result.ok,
                     "counts": counts, "time": round(outcome.elapsed, 4), "exit_code": int(result.exit_code())},
                    f"{outcome.device}: {counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors "
                    f"({outcome.elapsed:.2f} s)",
                )  # fmt: skip
            return
        from wsctl.cli.support.outcome import emit_outcome

        if self.report != "json":
            emit_outcome(self.env, outcome, fleet=True, fields=lambda _: {}, human=str, event="summary")

    async def main(self) -> list[Any]:
        from wsctl.cli.support.fleet import Progress, fan_out

        entries = [p.entry for p in self.plans.values()]
        return await fan_out(
            entries, self._job, parallel=self.parallel, on_done=self._on_done, progress=Progress(self.env, len(entries))
        )


def exit_code(outcomes: list[Any]) -> ExitCode:
    from wsctl.cli.support.fleet import shared_exit_code

    return shared_exit_code(o.value.exit_code() if o.ok else o.error.exit_code for o in outcomes)


def write_report(env: Environment, parsed: Any, outcomes: list[Any], started: str, elapsed: float) -> None:
    """--report json: every device's report, or its error, in one document."""
    import json

    from wsctl.cli.support.outcome import error_result

    devices = {}
    for o in sorted(outcomes, key=lambda o: o.device):
        devices[o.device] = (
            o.value.as_dict(started=started, time=o.elapsed) if o.ok else error_result(o.device, o.error, o.elapsed)
        )
    doc = {
        "format": "wsctl-test-fleet/1",
        "scenario": {"id": parsed.id, "title": parsed.title, "version": parsed.version, "source": parsed.source},
        "started": started,
        "time": round(elapsed, 4),
        "ok": exit_code(outcomes) == ExitCode.OK,
        "devices": devices,
    }
    env.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    env.stdout.flush()


def junit_cases(parsed: Any, fleet: ScenarioFleet, outcomes: list[Any] | None) -> list[Any]:
    """One case per scenario case and device; cases a device did not reach are
    errors (it could not be tested) or skipped (the run was interrupted)."""
    from wsctl.core.junit import JUnitCase
    from wsctl.core.scenario.verdict import SuiteResult
    from wsctl.core.scenario.verdict import junit_cases as one_device

    failed = {o.device: o.error for o in outcomes or () if not o.ok}
    cases = []
    for device, plan in fleet.plans.items():
        if device in failed and not fleet.finished[device]:
            error = failed[device]
            cases += [JUnitCase(c.name, device, 0.0, "error", error.message, "", error.kind) for c in fleet.cases]
            continue
        why = "the device's run ended early" if device in failed else "interrupted"
        for case in one_device(SuiteResult(parsed, plan.url, fleet.finished[device]), fleet.cases, why):
            cases.append(JUnitCase(case.name, device, case.time, case.outcome, case.message, case.detail, case.type))
    return cases
