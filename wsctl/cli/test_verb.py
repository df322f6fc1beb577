"""`wsctl test SCENARIO --to TARGET`: named cases of steps, one verdict each, for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.client_options import ClientOptions, client_options, fleet_options
from wsctl.cli.support.env import Environment
from wsctl.cli.support.junit_file import junit_option
from wsctl.core.errors import InvalidInput, NotAuthorized, UsageError

#: scenario packs shipped with wsctl (`wsctl test conveyor --to ...`)
PACKS = Path(__file__).resolve().parent.parent / "scenarios"
#: a scenario is a few hundred lines; a larger "scenario" is the wrong file
MAX_BYTES = 4 * 2**20


def shipped_packs() -> list[str]:
    return sorted(p.stem for p in PACKS.glob("*.toml"))


def read_scenario(argument: str):
    """The parsed scenario of a file path, or of a shipped pack's name."""
    from wsctl.core.scenario.format import parse_scenario
    from wsctl.files.regular import decode_utf8, read_regular

    path = Path(argument)
    if not path.exists() and "/" not in argument and (PACKS / f"{argument}.toml").is_file():
        path = PACKS / f"{argument}.toml"
    elif not path.exists():
        raise InvalidInput(f"no such scenario file: {argument}", hint=f"shipped packs: {', '.join(shipped_packs())}")
    return parse_scenario(
        decode_utf8(read_regular(path, limit=MAX_BYTES, what="scenario file"), str(path)), str(argument)
    )


def _variables(assignments: tuple[str, ...]) -> dict[str, object]:
    """--var NAME=VALUE: the value read as TOML (42, true, "x"), else as text."""
    from wsctl.core.scenario.format import check_plain
    from wsctl.core.toml_text import TomlSyntaxError, parse_toml

    out: dict[str, object] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        try:
            out[name] = parse_toml(f"v = {text}", f"--var {name}")["v"]
        except TomlSyntaxError:  # not TOML: plain text; TOML past the parser's limits stays an error (exit 8)
            out[name] = text
        check_plain(
            out[name], lambda path, kind, name=name: InvalidInput(f"--var {name}{path}: a TOML {kind} is no JSON value")
        )
    return out


def _plans(env: Environment, target: str, client: ClientOptions, profile_name: str | None, parsed) -> list:
    """Every device under test, planned before anything is sent: its URL, its
    `open_device` arguments and its profile.  The profile: --profile (a name
    or a file), else the scenario's (an installed profile's plain name:
    scenario packs travel, so the name is never opened as a path), else the
    inventory's."""
    from wsctl.cli.support.client_options import reach, resolve_targets
    from wsctl.cli.support.profile_use import ProfileCache
    from wsctl.cli.support.scenario_fleet import DevicePlan

    named: Any = None
    if profile_name is None and parsed.profile is not None:
        from wsctl.files.profiles import load_installed

        named = load_installed(parsed.profile, environ=env.environ)
    profiles = ProfileCache(env, profile_name)
    plans = []
    for entry in resolve_targets(env, target, client):
        profile = named if named is not None else profiles.for_entry(entry)
        if profile is None:
            raise UsageError(
                f"{parsed.source}: the scenario names no profile, and neither --profile nor the inventory gives one for {entry.name}",
                hint='profile = "NAME" under [scenario], or --profile NAME',
            )
        url, kwargs = reach(env, entry, client, profile)
        plans.append(DevicePlan(entry, url, kwargs, profile))
    return plans


def _chosen_cases(parsed, only: tuple[str, ...]) -> tuple:
    """The cases --case names (all when none), or a usage error naming the file's cases."""
    cases = parsed.cases
    unknown = [name for name in only if name not in {c.name for c in cases}]
    if unknown:
        raise UsageError(
            f"--case {unknown[0]!r}: {parsed.source} has no such case",
            hint=f"cases: {', '.join(c.name for c in cases)}",
        )
    return tuple(c for c in cases if c.name in only) if only else tuple(cases)


@click.command("test")
@click.argument("scenario")
@click.option(
    "--to",
    "target",
    metavar="TARGET",
    required=True,
    help="Device(s) to test: wss:// URL, alias, inventory group, or a comma list.",
)
@click.option(
    "--profile", "profile_name", help="Profile of the device [default: the scenario's, then the inventory's]."
)
@click.option("--case", "only", multiple=True, metavar="NAME", help="Run only this case (repeatable).")
@click.option(
    "--var",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a variable the steps use as ${NAME} (repeatable).",
)
@click.option(
    "--report",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document with every verdict on stdout at the end.",
)
@junit_option
@click.option("--yes", is_flag=True, help="Allow the dangerous commands the scenario sends.")
@client_options
@fleet_options
@click.pass_obj
def test(
    env: Environment,
    scenario: str,
    target: str,
    profile_name: str | None,
    only: tuple[str, ...],
    assignments: tuple[str, ...],
    report: str,
    junit: str | None,
    yes: bool,
    client: ClientOptions,
) -> int:
    """Run the cases of a SCENARIO file against TARGET: one verdict each.

    A scenario (TOML, docs/testing.md) names cases of steps: send a profile
    command or a raw message, expect things of the reply (JSON Pointers with
    equality, ranges, regexes, types), wait for an event, expect a refusal,
    sleep, keep values for later steps. Each case runs on its own connection
    and stops at its first failed step. Everything is checked against the
    profile before anything is sent. Exit 0 when every case passed, 7 when
    one failed, else the exit code of what kept the cases from running.
    SCENARIO is a file or a shipped pack: conveyor, conveyor-observer, ocpp16,
    ocpp201. A group or several targets are tested side by side (--parallel),
    each line naming its device; the exit code is then the one all failures
    share, else 1.

    \b
    EXAMPLES
      wsctl test conveyor --to plc-17 --yes --junit report.xml
      wsctl test conveyor-observer --to plc-17 --operator bob
      wsctl test ocpp16 --to wss://127.0.0.1:8443/ocpp/CP-0001 --yes --report json
      wsctl test acceptance.toml --to line-1 --case "speed limits" --var id_tag=04A2B3C4
      wsctl test conveyor --to line-1 --yes --junit line-1.xml   # every device of the group
    """
    from wsctl.core.scenario.format import check_against_profile, check_variables

    parsed = read_scenario(scenario)
    variables = _variables(assignments)
    check_variables(parsed, set(variables))
    cases = _chosen_cases(parsed, only)
    plans = _plans(env, target, client, profile_name, parsed)
    dangerous = set().union(*(check_against_profile(parsed, plan.profile, variables) for plan in plans))
    if dangerous and not yes:
        raise NotAuthorized(
            f"{parsed.source} sends dangerous commands ({', '.join(sorted(dangerous))}); nothing was sent",
            hint="allow them with --yes",
        )
    if len(plans) > 1:
        return _test_fleet(env, parsed, plans, cases, variables, report, junit, client.parallel)
    return _test_one(env, parsed, plans[0], cases, variables, report, junit)


def _test_one(env: Environment, parsed, plan, cases, variables, report: str, junit: str | None) -> int:
    """One device: its verdicts as they come, the summary, the report files."""
    import time

    from wsctl.cli.support import scenario_fleet

    url, kwargs, profile = plan.url, plan.kwargs, plan.profile
    finished = []

    def on_case(verdict) -> None:
        finished.append(verdict)
        if report == "json":
            return
        env.emit({"event": "case", "scenario": parsed.id, **verdict.as_dict()}, scenario_fleet.case_lines(verdict))

    async def main():
        from wsctl.net.scenario import run_scenario

        return await run_scenario(parsed, url, kwargs, profile, cases=cases, variables=variables, on_case=on_case)

    from wsctl.cli.support.runtime import run_async
    from wsctl.core.errors import Interrupted
    from wsctl.core.scenario.verdict import SuiteResult

    started_wall, started = time.time(), time.monotonic()
    try:
        result = run_async(main)
    except Interrupted:
        # a cancelled CI job still gets the verdicts it paid for
        if junit:
            _junit(junit, SuiteResult(parsed, url, finished), cases, started_wall, time.monotonic() - started)
        raise
    elapsed = time.monotonic() - started
    if junit:
        _junit(junit, result, cases, started_wall, elapsed)
    _finish(env, result, report, started_wall, elapsed)
    return int(result.exit_code())


def _test_fleet(env: Environment, parsed, plans: list, cases, variables, report: str, junit, parallel: int) -> int:
    import time

    from wsctl.cli.support import scenario_fleet
    from wsctl.cli.support.junit_file import utc_timestamp, write_junit
    from wsctl.cli.support.runtime import run_async
    from wsctl.core.errors import Interrupted

    fleet = scenario_fleet.ScenarioFleet(
        env, parsed, plans, cases=cases, variables=variables, report=report, parallel=parallel
    )
    started_wall, started = time.time(), time.monotonic()

    def write(outcomes) -> None:
        if junit:
            write_junit(junit, parsed.id, scenario_fleet.junit_cases(parsed, fleet, outcomes), started=started_wall,
                        elapsed=time.monotonic() - started, properties=[("scenario", parsed.source)])  # fmt: skip

    try:
        outcomes = run_async(fleet.main)
    except Interrupted:
        write(None)  # a cancelled CI job still gets the verdicts it paid for
        raise
    write(outcomes)
    if report == "json":
        scenario_fleet.write_report(
            env, parsed, outcomes, utc_timestamp(started_wall) + "Z", time.monotonic() - started
        )
    return int(scenario_fleet.exit_code(outcomes))


def _junit(path: str, result, planned, started: float, elapsed: float) -> None:
    from wsctl.cli.support.junit_file import write_junit
    from wsctl.core.scenario.verdict import junit_cases

    write_junit(
        path,
        result.scenario.id,
        junit_cases(result, planned),
        started=started,
        elapsed=elapsed,
        properties=[("target", result.target), ("scenario", result.scenario.source)],
    )


def _finish(env: Environment, result, report: str, started: float, elapsed: float) -> None:
    import json

    from wsctl.cli.support.errors import one_line
    from wsctl.cli.support.junit_file import utc_timestamp

    counts = result.counts()
    if report == "json":
        env.stdout.write(
            json.dumps(result.as_dict(started=utc_timestamp(started) + "Z", time=elapsed), ensure_ascii=False, indent=2)
            + "\n"
        )
        env.stdout.flush()
        return
    env.emit(
        {
            "event": "summary",
            "scenario": result.scenario.id,
            "ok": result.ok,
            "counts": counts,
            "time": round(elapsed, 4),
            "exit_code": int(result.exit_code()),
        },
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors ({one_line(result.scenario.id)}, {elapsed:.2f} s)",
    )
