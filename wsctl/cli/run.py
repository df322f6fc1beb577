"""`wsctl run`: a file of profile commands for jobs, checked whole before the first is sent."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import click

from wsctl.cli.client_options import (
    ClientOptions,
    client_options,
    connect_kwargs,
    fleet_options,
    resolve_targets,
)
from wsctl.cli.env import Environment
from wsctl.cli.junit_file import junit_option
from wsctl.core.errors import InvalidInput, Timeout, WsctlError


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
            if seconds < 0:
                raise InvalidInput(f"{source}:{number}: expected `sleep SECONDS`")
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
    from wsctl.cli.fleet import Progress, fan_out, overall_exit_code
    from wsctl.cli.outcome import emit_outcome
    from wsctl.cli.profile_use import (
        EventReporter,
        ProfileCache,
        apply_profile_transport,
        prepare_call,
        reply_fields,
        reply_human,
    )
    from wsctl.cli.render import error_result
    from wsctl.cli.runtime import run_async
    from wsctl.core.errors import NotAuthorized

    source = "<stdin>" if script == "-" else script
    try:
        text = env.stdin.read() if script == "-" else Path(script).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no such script file: {script}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read script {source}: {getattr(exc, 'strerror', None) or exc}") from None
    steps = parse_script(text, source)
    entries = resolve_targets(env, target, client)
    fleet = len(entries) > 1
    profiles = ProfileCache(env, profile_name)
    plans = {}
    for entry in entries:
        profile = profiles.require(entry)
        calls = {}
        for step in steps:
            if step.kind != "call":
                continue
            try:
                command, bound = prepare_call(env, profile, step.command, step.args)
            except InvalidInput as exc:
                raise InvalidInput(f"{source}:{step.line}: {exc.message}", hint=exc.hint) from None
            if command.dangerous and not yes:
                raise NotAuthorized(
                    f"{source}:{step.line}: {command.key} is dangerous; nothing was sent", hint="allow it with --yes"
                )
            calls[step.line] = (command, bound)
        url, kwargs = apply_profile_transport(entry.url, connect_kwargs(env, entry, client), profile)
        plans[entry.name] = (entry, profile, calls, url, kwargs)

    reported: set[int] = set()
    #: device -> script line -> JUnit case, for --junit
    verdicts: dict[str, dict[int, object]] = {}

    def report(device: str, step: Step, reply=None, error: WsctlError | None = None, elapsed: float = 0.0) -> None:
        if junit:
            from wsctl.core.junit import JUnitCase

            outcome = (
                ("failure", error.message, error.message, error.kind) if error is not None else ("pass", "", "", "")
            )
            verdicts.setdefault(device, {})[step.line] = JUnitCase(
                f"line {step.line}: {step.text}", device, elapsed, *outcome
            )
        if error is not None:
            reported.add(id(error))
            obj = {**error_result(device, error, elapsed), "line": step.line, "command": step.command}
            env.emit(obj, f"{device + '  ' if fleet else ''}line {step.line}: FAIL {step.text}: {error.message}")
        else:
            obj = {"device": device, "ok": True, "elapsed": round(elapsed, 4), "line": step.line, **reply_fields(reply)}
            env.emit(
                obj,
                f"{device + '  ' if fleet else ''}line {step.line}: ok {step.text} -> {reply_human(reply, compact=True)}",
            )

    async def job(entry):
        import trio

        from wsctl.net.api import open_device
        from wsctl.net.session import Session, raise_for_reply

        _, profile, calls, url, kwargs = plans[entry.name]
        first_error: WsctlError | None = None
        events = EventReporter(env, entry.name)
        async with open_device(url, **kwargs) as dev:
            session = Session(dev, profile, on_event=events)
            async with trio.open_nursery() as nursery:
                await nursery.start(session.run)
                for step in steps:
                    if step.kind == "sleep":
                        await trio.sleep(step.seconds)
                        continue
                    command, bound = calls[step.line]
                    started = trio.current_time()
                    try:
                        try:
                            reply = await session.call(command, bound)
                        except Timeout as exc:
                            raise events.explain(exc) from None
                        raise_for_reply(reply, profile, entry.name)
                    except WsctlError as exc:
                        report(entry.name, step, error=exc, elapsed=trio.current_time() - started)
                        first_error = first_error or exc
                        if not keep_going or exc.exit_code == 10:
                            break
                    else:
                        report(entry.name, step, reply, elapsed=trio.current_time() - started)
                nursery.cancel_scope.cancel()
        if first_error is not None:
            raise first_error
        return len(calls)

    def on_done(outcome) -> None:
        # step failures were reported on their own line; a failure to connect was not
        if not outcome.ok and id(outcome.error) not in reported:
            emit_outcome(env, outcome, fleet=fleet, fields=lambda n: {}, human=str)

    async def main():
        return await fan_out(
            [plans[n][0] for n in plans],
            job,
            parallel=client.parallel,
            on_done=on_done,
            progress=Progress(env, len(plans)),
        )

    import time

    started_wall, started = time.time(), time.monotonic()
    outcomes = run_async(main)
    if junit:
        _write_junit(junit, source, steps, outcomes, verdicts, started_wall, time.monotonic() - started)
    return int(overall_exit_code(outcomes))


def _write_junit(
    path: str, source: str, steps: list[Step], outcomes, verdicts: dict, started: float, elapsed: float
) -> None:
    """One case per script line and device; lines after a failure are skipped,
    and every line errors for a device that could not be reached."""
    from wsctl.cli.junit_file import write_junit
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
