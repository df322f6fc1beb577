"""`wsctl test SCENARIO --to TARGET`: named cases of steps, one verdict each, for CI."""

from __future__ import annotations

from pathlib import Path

import click

from wsctl.cli.client_options import ClientOptions, client_options
from wsctl.cli.env import Environment
from wsctl.cli.junit_file import junit_option
from wsctl.core.errors import InvalidInput, NotAuthorized, UsageError

#: scenario packs shipped with wsctl (`wsctl test conveyor --to ...`)
PACKS = Path(__file__).resolve().parent.parent / "scenarios"
#: a scenario is a few hundred lines; a larger "scenario" is the wrong file
MAX_BYTES = 4 * 2**20


def shipped_packs() -> list[str]:
    return sorted(p.stem for p in PACKS.glob("*.toml"))


def read_scenario(argument: str):
    """The parsed scenario of a file path, or of a shipped pack's name."""
    from wsctl.core.files import decode_utf8, read_regular
    from wsctl.core.scenario.format import parse_scenario

    path = Path(argument)
    if not path.exists() and "/" not in argument and (PACKS / f"{argument}.toml").is_file():
        path = PACKS / f"{argument}.toml"
    elif not path.exists():
        raise InvalidInput(f"no such scenario file: {argument}", hint=f"shipped packs: {', '.join(shipped_packs())}")
    return parse_scenario(decode_utf8(read_regular(path, limit=MAX_BYTES, what="scenario file"), str(path)), str(argument))


def _variables(assignments: tuple[str, ...]) -> dict[str, object]:
    """--var NAME=VALUE: the value read as TOML (42, true, "x"), else as text."""
    import tomllib

    out: dict[str, object] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        try:
            out[name] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            out[name] = text
    return out


def _case_lines(verdict) -> str:
    time = f"({verdict.time:.2f} s)"
    if verdict.verdict == "pass":
        return f"PASS  {verdict.name} {time}"
    head = f"{'FAIL' if verdict.verdict == 'fail' else 'ERROR'} {verdict.name} {time}: {verdict.reason}"
    return "\n".join([head, *(f"        {line}" for line in verdict.diff)])


@click.command("test")
@click.argument("scenario")
@click.option("--to", "target", metavar="TARGET", required=True, help="Device to test (wss:// URL or alias).")
@click.option("--profile", "profile_name", help="Profile of the device [default: the scenario's, then the inventory's].")
@click.option("--case", "only", multiple=True, metavar="NAME", help="Run only this case (repeatable).")
@click.option("--var", "assignments", multiple=True, metavar="NAME=VALUE", help="Set a variable the steps use as ${NAME} (repeatable).")
@click.option("--report", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON document with every verdict on stdout at the end.")
@junit_option
@click.option("--yes", is_flag=True, help="Allow the dangerous commands the scenario sends.")
@client_options
@click.pass_obj
def test(env: Environment, scenario: str, target: str, profile_name: str | None, only: tuple[str, ...], assignments: tuple[str, ...],
         report: str, junit: str | None, yes: bool, client: ClientOptions) -> int:
    """Run the cases of a SCENARIO file against TARGET: one verdict each.

    A scenario (TOML, docs/testing.md) names cases of steps: send a profile
    command or a raw message, expect things of the reply (JSON Pointers with
    equality, ranges, regexes, types), wait for an event, expect a refusal,
    sleep, keep values for later steps. Each case runs on its own connection
    and stops at its first failed step. Everything is checked against the
    profile before anything is sent. Exit 0 when every case passed, 7 when
    one failed, else the exit code of what kept the cases from running.
    SCENARIO is a file or a shipped pack: conveyor, conveyor-observer, ocpp16.

    \b
    EXAMPLES
      wsctl test conveyor --to plc-17 --yes --junit report.xml
      wsctl test conveyor-observer --to plc-17 --operator bob
      wsctl test ocpp16 --to wss://127.0.0.1:8443/ocpp/CP-0001 --yes --report json
      wsctl test acceptance.toml --to line-1 --case "speed limits" --var id_tag=04A2B3C4
    """
    import time

    from wsctl.cli.record.common import one_device
    from wsctl.core.scenario.format import check_against_profile, check_variables

    parsed = read_scenario(scenario)
    variables = _variables(assignments)
    check_variables(parsed, set(variables))
    cases = parsed.cases
    if only:
        unknown = [name for name in only if name not in {c.name for c in cases}]
        if unknown:
            raise UsageError(f"--case {unknown[0]!r}: {parsed.source} has no such case", hint=f"cases: {', '.join(c.name for c in cases)}")
        cases = tuple(c for c in cases if c.name in only)
    url, kwargs, profile = one_device(env, target, client, profile_name or parsed.profile, "test")
    if profile is None:
        raise UsageError(f"{parsed.source}: the scenario names no profile, and neither --profile nor the inventory gives one for {target}",
                         hint="profile = \"NAME\" under [scenario], or --profile NAME")
    dangerous = check_against_profile(parsed, profile)
    if dangerous and not yes:
        raise NotAuthorized(f"{parsed.source} sends dangerous commands ({', '.join(sorted(dangerous))}); nothing was sent",
                            hint="allow them with --yes")

    def on_case(verdict) -> None:
        if report == "json":
            return
        env.emit({"event": "case", "scenario": parsed.id, **verdict.as_dict()}, _case_lines(verdict))

    async def main():
        from wsctl.net.scenario import run_scenario

        return await run_scenario(parsed, url, kwargs, profile, cases=cases, variables=variables, on_case=on_case)

    from wsctl.cli.runtime import run_async

    started_wall, started = time.time(), time.monotonic()
    result = run_async(main)
    elapsed = time.monotonic() - started
    _finish(env, result, report, junit, started_wall, elapsed)
    return int(result.exit_code())


def _finish(env: Environment, result, report: str, junit: str | None, started: float, elapsed: float) -> None:
    import json

    from wsctl.cli.junit_file import utc_timestamp, write_junit
    from wsctl.core.scenario.verdict import junit_cases

    if junit:
        write_junit(junit, result.scenario.id, junit_cases(result), started=started, elapsed=elapsed,
                    properties=[("target", result.target), ("scenario", result.scenario.source)])
    counts = result.counts()
    if report == "json":
        env.stdout.write(json.dumps(result.as_dict(started=utc_timestamp(started) + "Z", time=elapsed), ensure_ascii=False, indent=2) + "\n")
        env.stdout.flush()
        return
    env.emit({"event": "summary", "scenario": result.scenario.id, "ok": result.ok, "counts": counts, "time": round(elapsed, 4)},
             f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors ({result.scenario.id}, {elapsed:.2f} s)")
