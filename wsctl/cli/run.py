"""`wsctl run`: a file of profile commands for jobs, checked whole before the first is sent."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.client_options import (
    ClientOptions,
    client_options,
    fleet_options,
    reach,
    resolve_targets,
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.junit_file import junit_option
from wsctl.core.errors import InvalidInput, Timeout, WsctlError

#: the longest `sleep` a script may ask for, as a scenario file's seconds (one day)
MAX_SLEEP = 86400
#: a script is lines typed by people; as a scenario file, a larger one is the wrong file
MAX_SCRIPT_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Step:
    line: int
    text: str
    #: "call" or "sleep"
    kind: str
    command: str | None = None
    args: tuple[str, ...] = ()
    seconds: float = 0.0


def parse_script(text: str, source: str) -> list[Step]:
    """One command per line: `set_speed speed=1200`; `sleep 0.5`; `#` comments."""
    steps = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InvalidInput(f"{source}:{number}: {exc}") from None
        if not words:
            continue
        if words[0] == "sleep":
            try:
                seconds = float(words[1]) if len(words) == 2 else -1.0
            except ValueError:
                seconds = -1.0
            if not 0 <= seconds <= MAX_SLEEP:  # also refuses nan; inf is above the bound
                raise InvalidInput(f"{source}:{number}: expected `sleep SECONDS` (0 to {MAX_SLEEP})")
            steps.append(Step(number, line, "sleep", seconds=seconds))
        else:
            steps.append(Step(number, line, "call", command=words[0], args=tuple(words[1:])))
    if not steps:
        raise InvalidInput(f"{source}: no commands")
    return steps


@click.command("run")
@click.argument("target")
@click.argument("script", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--profile", "profile_name", help="Profile of the device (name or file) [default: the inventory's].")
@click.option("--keep-going", is_flag=True, help="Run the remaining commands after a failure.")
@click.option("--yes", is_flag=True, help="Allow dangerous commands in the script.")
@junit_option
@client_options
@fleet_options
@click.pass_obj
def run(
    env: Environment,
    target: str,
    script: str,
    profile_name: str | None,
    keep_going: bool,
    yes: bool,
    junit: str | None,
    client: ClientOptions,
) -> int:
    """Run a SCRIPT of profile commands against TARGET ('-' reads stdin).

    One command per line as on the `send` command line (`set_speed
    speed=1200`), `sleep SECONDS` to pause, `#` for comments. Every line is
    checked against the profile before the first command is sent; dangerous
    commands need --yes. Stops at the first failure (its exit code) unless
    --keep-going. One result line per command.

    \b
    EXAMPLES
      printf 'start\\nset_speed speed=800\\nstatus\\n' | wsctl run plc-17 - --profile conveyor
      wsctl --json run line-1 commissioning.txt --keep-going
      wsctl run line-1 commissioning.txt --keep-going --junit run.xml   # one test case per line and device
    """
    import time

    from wsctl.cli.support.fleet import overall_exit_code
    from wsctl.cli.support.runtime import run_async

    source, steps = _read_script(env, script)
    entries = resolve_targets(env, target, client)
    from wsctl.cli.support.profile_use import ProfileCache

    profiles = ProfileCache(env, profile_name)  # one load per profile, not per device
    plans = {entry.name: _plan(env, entry, steps, source, profiles, yes, client) for entry in entries}
    run_ = _ScriptRun(env, steps, plans, keep_going=keep_going, junit=junit is not None, parallel=client.parallel)
    started_wall, started = time.time(), time.monotonic()
    outcomes = run_async(run_.main)
    if junit:
        _write_junit(junit, source, steps, outcomes, run_.verdicts, started_wall, time.monotonic() - started)
    return int(overall_exit_code(outcomes))


def _read_script(env: Environment, script: str) -> tuple[str, list[Step]]:
    """The script's steps: a regular file of at most `MAX_SCRIPT_BYTES` (a FIFO or
    /dev/zero from elsewhere must not block or fill memory), or stdin."""
    from wsctl.cli.support.stdin_text import checked_text
    from wsctl.files.regular import decode_utf8, read_regular

    if script == "-":
        text = env.stdin.read(MAX_SCRIPT_BYTES + 1)
        if len(text) > MAX_SCRIPT_BYTES:
            raise InvalidInput(f"<stdin>: larger than {MAX_SCRIPT_BYTES} characters, too large for a script")
        return "<stdin>", parse_script(checked_text(text), "<stdin>")
    if not Path(script).exists() and not Path(script).is_symlink():
        raise InvalidInput(f"no such script file: {script}")
    text = decode_utf8(read_regular(script, limit=MAX_SCRIPT_BYTES, what="script"), script)
    return script, parse_script(text, script)


@dataclass(frozen=True)
class _Plan:
    """One device of the run: every call checked against its profile before anything is sent."""

    entry: Any
    profile: Any
    calls: dict[int, tuple[Any, dict[str, Any]]]
    url: str
    kwargs: dict[str, Any]


def _plan(
    env: Environment,
    entry: Any,
    steps: list[Step],
    source: str,
    profiles: Any,
    yes: bool,
    client: ClientOptions,
) -> _Plan:
    from wsctl.cli.support.profile_use import prepare_call
    from wsctl.core.errors import NotAuthorized

    profile = profiles.require(entry)
    calls = {}
    for step in steps:
        if step.kind != "call":
            continue
        try:
            command, bound = prepare_call(env, profile, step.command or "", step.args)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}:{step.line}: {exc.message}", hint=exc.hint) from None
        if command.dangerous and not yes:
            raise NotAuthorized(
                f"{source}:{step.line}: {command.key} is dangerous; nothing was sent", hint="allow it with --yes"
            )
        calls[step.line] = (command, bound)
    url, kwargs = reach(env, entry, client, profile)
    return _Plan(entry, profile, calls, url, kwargs)


class _ScriptRun:
    """The script against every device (bounded by --parallel), one result line per command."""

    def __init__(
        self,
        env: Environment,
        steps: list[Step],
        plans: dict[str, _Plan],
        *,
        keep_going: bool,
        junit: bool,
        parallel: int,
    ) -> None:
        self.env, self.steps, self.plans = env, steps, plans
        self.keep_going, self.junit, self.parallel = keep_going, junit, parallel
        self.fleet = len(plans) > 1
        self.reported: set[int] = set()
        #: device -> script line -> JUnit case, for --junit
        self.verdicts: dict[str, dict[int, object]] = {}

    def report(
        self, device: str, step: Step, reply: Any = None, error: WsctlError | None = None, elapsed: float = 0.0
    ) -> None:
        from wsctl.cli.support.profile_use import reply_fields, reply_human
        from wsctl.cli.support.render import error_result

        if self.junit:
            from wsctl.core.junit import JUnitCase

            outcome = (
                ("failure", error.message, error.message, error.kind) if error is not None else ("pass", "", "", "")
            )
            self.verdicts.setdefault(device, {})[step.line] = JUnitCase(
                f"line {step.line}: {step.text}", device, elapsed, *outcome
            )
        from wsctl.cli.support.errors import one_line

        prefix = f"{device}  " if self.fleet else ""
        text = one_line(step.text)  # the script's line, from elsewhere
        if error is not None:
            self.reported.add(id(error))
            obj = {**error_result(device, error, elapsed), "line": step.line, "command": step.command}
            self.env.emit(obj, f"{prefix}line {step.line}: FAIL {text}: {one_line(error.message)}")
        else:
            obj = {"device": device, "ok": True, "elapsed": round(elapsed, 4), "line": step.line, **reply_fields(reply)}
            self.env.emit(obj, f"{prefix}line {step.line}: ok {text} -> {reply_human(reply, compact=True)}")

    async def job(self, entry: Any) -> int:
        import trio

        from wsctl.cli.support.profile_use import EventReporter
        from wsctl.net.api import open_device
        from wsctl.net.session import Session

        plan = self.plans[entry.name]
        events = EventReporter(self.env, entry.name)
        async with open_device(plan.url, **plan.kwargs) as dev:
            session = Session(dev, plan.profile, on_event=events)
            async with trio.open_nursery() as nursery:
                await nursery.start(session.run)
                first_error = await self._steps(entry, plan, session, events)
                nursery.cancel_scope.cancel()
        if first_error is not None:
            raise first_error
        return len(plan.calls)

    async def _steps(self, entry: Any, plan: _Plan, session: Any, events: Any) -> WsctlError | None:
        import trio

        from wsctl.net.session import raise_for_reply

        first_error: WsctlError | None = None
        for step in self.steps:
            if step.kind == "sleep":
                await trio.sleep(step.seconds)
                continue
            command, bound = plan.calls[step.line]
            started = trio.current_time()
            try:
                try:
                    reply = await session.call(command, bound)
                except Timeout as exc:
                    raise events.explain(exc) from None
                raise_for_reply(reply, plan.profile, entry.name)
            except WsctlError as exc:
                self.report(entry.name, step, error=exc, elapsed=trio.current_time() - started)
                first_error = first_error or exc
                if not self.keep_going or exc.exit_code == 10:
                    break
            else:
                self.report(entry.name, step, reply, elapsed=trio.current_time() - started)
        return first_error

    def on_done(self, outcome: Any) -> None:
        from wsctl.cli.support.outcome import emit_outcome

        # step failures were reported on their own line; a failure to connect was not
        if not outcome.ok and id(outcome.error) not in self.reported:
            emit_outcome(self.env, outcome, fleet=self.fleet, fields=lambda n: {}, human=str)

    async def main(self) -> Any:
        from wsctl.cli.support.fleet import Progress, fan_out

        return await fan_out(
            [p.entry for p in self.plans.values()],
            self.job,
            parallel=self.parallel,
            on_done=self.on_done,
            progress=Progress(self.env, len(self.plans)),
        )


def _write_junit(
    path: str, source: str, steps: list[Step], outcomes, verdicts: dict, started: float, elapsed: float
) -> None:
    """One case per script line and device; lines after a failure are skipped,
    and every line errors for a device that could not be reached."""
    from wsctl.cli.support.junit_file import write_junit
    from wsctl.core.junit import JUnitCase

    cases = []
    for outcome in outcomes:
        done = verdicts.get(outcome.device, {})
        for step in (s for s in steps if s.kind == "call"):
            if step.line in done:
                cases.append(done[step.line])
            elif not done and outcome.error is not None:
                cases.append(
                    JUnitCase(
                        f"line {step.line}: {step.text}",
                        outcome.device,
                        0.0,
                        "error",
                        outcome.error.message,
                        "",
                        outcome.error.kind,
                    )
                )
            else:
                cases.append(
                    JUnitCase(
                        f"line {step.line}: {step.text}",
                        outcome.device,
                        0.0,
                        "skipped",
                        "not run: an earlier line failed",
                    )
                )
    write_junit(path, f"run {source}", cases, started=started, elapsed=elapsed)
