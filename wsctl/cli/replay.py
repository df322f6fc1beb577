"""`wsctl replay FILE --to TARGET`: send a recording's messages to a device, compare its answers."""

from __future__ import annotations

import base64
from typing import Any

import click

from wsctl.cli.support.client_options import ClientOptions, client_options, fleet_options
from wsctl.cli.support.config import Seconds
from wsctl.cli.support.env import Environment
from wsctl.cli.support.junit_file import junit_option
from wsctl.core.errors import InvalidInput, NotAuthorized, UsageError


def _text(message: str | bytes, limit: int = 100) -> str:
    """A message for people: control characters escaped (the recording came from
    elsewhere and must not drive the terminal), and what a shortened one leaves out."""
    from wsctl.cli.support.errors import one_line

    if isinstance(message, bytes):
        shown = base64.b64encode(message[:48]).decode("ascii")
        return f"<binary {len(message)} B> {shown}" + (
            f"... ({len(message) - 48} more bytes)" if len(message) > 48 else ""
        )
    if len(message) <= limit:
        return one_line(message)
    return f"{one_line(message[:limit])}... ({len(message) - limit} more characters)"


@click.command("replay")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "target",
    metavar="TARGET",
    help="Device(s) to replay to (wss:// URL, alias, group, or a comma list); never taken from the recording.",
)
@click.option(
    "--mode",
    type=click.Choice(["original", "fast", "reply"]),
    default="original",
    show_default=True,
    help="original: recorded gaps; fast: no waiting; reply: wait for each send's answers, then the recorded think time.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Divide every gap by X (2 = twice as fast).",
)
@click.option("--max-delay", type=Seconds(min=0.0), default=None, metavar="S", help="Cap every gap at S seconds.")
@click.option("--loop", type=click.IntRange(min=1), default=1, show_default=True, help="Replay N times.")
@click.option(
    "--loop-delay",
    type=Seconds(min=0.0),
    default=0.0,
    show_default=True,
    metavar="S",
    help="Seconds between loops.",
)
@click.option("--step", is_flag=True, help="Send one message per Enter (on stdin).")
@click.option("--dry-run", is_flag=True, help="Print what would be sent, and when; connect to nothing.")
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="POINTER|re:REGEX",
    help="Leave this JSON Pointer (/id, /params/timestamp) or regex out of the comparison (repeatable).",
)
@click.option(
    "--conn", type=int, default=None, help="Replay only connection N of the recording [default: all, in order]."
)
@click.option(
    "--reply-timeout",
    type=Seconds(min=0.0, min_open=True),
    default=10.0,
    show_default=True,
    help="Longest wait for answers (reply mode, and after the last send).",
)
@click.option(
    "--no-compare", is_flag=True, help="Only send; do not compare answers (exit 0 unless the connection fails)."
)
@click.option("--profile", "profile_name", help="Profile whose subprotocols and path to use when connecting.")
@click.option(
    "--replies-only",
    is_flag=True,
    help="Compare only replies to requests, not telemetry or device requests (needs a profile: --profile or the recording's).",
)
@click.option("--strict", is_flag=True, help="Fail on a corrupted recording line instead of skipping it.")
@click.option("--yes", is_flag=True, help="Send the recording's dangerous commands (by the profile) without asking.")
@junit_option
@client_options
@fleet_options
@click.pass_obj
def replay(
    env: Environment,
    file: str,
    target: str | None,
    mode: str,
    speed: float,
    max_delay,
    loop: int,
    loop_delay: float,
    step: bool,
    dry_run: bool,
    ignore,
    conn,
    reply_timeout: float,
    no_compare: bool,
    profile_name,
    replies_only: bool,
    strict: bool,
    yes: bool,
    junit: str | None,
    client: ClientOptions,
) -> int:
    """Send the recorded tool → device messages to a device and compare its answers.

    The device's answers are compared, in order, with the recorded ones (JSON
    compared as JSON; --ignore takes out what always changes). Exit 0 when
    they match; 7 with a readable report of every difference when they do
    not; 10 when the device closes before the replay is done; 3-6 when the
    connection fails. With a profile (--profile, the inventory's, or the one
    the recording names), dangerous commands need --yes or a confirmation on
    the terminal, and a message the device could read more than one way
    (duplicate keys) needs --yes (exit 9, nothing sent). Timing: sends are scheduled at absolute deadlines, so
    errors do not add up over a long replay (--json reports p50/p99).
    A group or several targets are replayed to side by side (--parallel),
    each with its own connection, schedule and comparison; a result line per
    device, and the exit code all failures share, else 1.

    \b
    EXAMPLES
      wsctl replay session.jsonl --dry-run
      wsctl replay session.jsonl --to plc-17 --certs certs --operator alice
      wsctl replay session.jsonl --to plc-17 --mode reply --ignore /id --ignore /result/timestamp
      wsctl replay session.jsonl --to wss://10.0.0.17:8443/ --speed 10 --max-delay 0.5 --loop 5 --loop-delay 2
      wsctl replay session.jsonl --to plc-17 --step
      wsctl replay session.jsonl --to plc-17 --mode reply --replies-only --ignore /id --ignore /result/motor_temp
      wsctl replay session.jsonl --to plc-17 --mode reply --ignore /id --junit replay.xml   # one test case per send
      wsctl replay setup.jsonl --to line-1 --mode reply --ignore /id   # every device of the group
    """
    from wsctl.core.record.compare import Ignore
    from wsctl.core.record.replay import build_plan
    from wsctl.files.recording_reader import open_recording

    rules = Ignore(ignore)
    keep = _reply_filter(env, file, profile_name, strict) if replies_only else None
    reader = open_recording(file, strict=strict, warn=env.warn)
    plan = build_plan(
        reader, mode=mode, speed=speed, max_delay=max_delay, loop=loop, loop_delay=loop_delay, conn=conn, keep=keep
    )
    if not plan.sends:
        # the file is what is wrong (exit 8), not how wsctl was called; a dry run says so too
        raise InvalidInput(
            f"{file}: nothing to replay (no messages from the tool in the recording)",
            hint=f"a device that only talked can still be served as a mock: wsctl serve --replay {file}",
        )
    named = _named_profile(env, profile_name, reader.header)
    if dry_run:
        return _dry_run(env, plan, mode, named)
    if not target:
        raise UsageError(
            "replay needs --to TARGET (or --dry-run)",
            hint="the device is never taken from the recording: say where to send",
        )
    from wsctl.cli.support.client_options import resolve_targets

    entries = resolve_targets(env, target, client)
    settings = (rules, reply_timeout, keep, no_compare, mode, step, (named, yes, file))
    if len(entries) > 1:
        return _replay_fleet(env, plan, entries, client, profile_name, reader.header, file, junit, settings=settings)
    return _replay_one(env, plan, entries[0], client, profile_name, reader.header, file, junit, settings=settings)


def _replay_one(env: Environment, plan: Any, entry: Any, client: ClientOptions, profile_name: str | None,
                header: Any, file: str, junit: str | None, *, settings: tuple) -> int:  # fmt: skip
    import time

    from wsctl.cli.support.runtime import run_async

    rules, reply_timeout, keep, no_compare, mode, step, (named, yes, _) = settings
    url, kwargs, profile = _reached(env, entry, client, profile_name, header)
    confirm_sends(env, plan, profile or named, [entry.name], yes, file)
    main = _live_replay(env, plan, url, kwargs, rules, reply_timeout, step, _id_pointers(profile), keep, no_compare)
    started_wall, started = time.time(), time.monotonic()
    result = run_async(main)
    if junit:
        _write_junit(junit, file, result, plan, no_compare, started_wall, time.monotonic() - started)
    return _finish(env, result, plan, no_compare, mode)


def _reached(env: Environment, entry: Any, client: ClientOptions, profile_name: str | None, header: Any) -> tuple:
    """(url, open_device kwargs, profile) of a device to replay to; without a
    profile or chosen subprotocols, it is offered what the recorded session spoke."""
    from wsctl.cli.support.client_options import reach
    from wsctl.cli.support.profile_use import ProfileCache

    profile = ProfileCache(env, profile_name).for_entry(entry)
    url, kwargs = reach(env, entry, client, profile)
    if profile is None and not kwargs.get("subprotocols") and header.subprotocol:
        kwargs["subprotocols"] = (header.subprotocol,)
    return url, kwargs, profile


def _replay_fleet(env: Environment, plan: Any, entries: list, client: ClientOptions, profile_name: str | None,
                  header: Any, file: str, junit: str | None, *, settings: tuple) -> int:  # fmt: skip
    from wsctl.cli.support import replay_fleet

    rules, reply_timeout, keep, no_compare, mode, step, (named, yes, _) = settings
    if step:
        raise UsageError("--step replays to one device", hint="give --to one device, or leave --step out")
    targets = []
    by_profile: dict[int, tuple[Any, list[str]]] = {}  # each device's own profile decides
    for entry in entries:
        url, kwargs, profile = _reached(env, entry, client, profile_name, header)
        targets.append(replay_fleet.ReplayTarget(entry, url, kwargs, _id_pointers(profile)))
        by_profile.setdefault(id(profile or named), (profile or named, []))[1].append(entry.name)
    for reading_profile, devices in by_profile.values():
        confirm_sends(env, plan, reading_profile, devices, yes, file)
    return replay_fleet.run(
        env, plan, targets, replay_fleet.ReplaySettings(rules, reply_timeout, keep, no_compare, mode),
        parallel=client.parallel, junit=(junit, f"replay {file}") if junit else None,
    )  # fmt: skip


def _named_profile(env: Environment, profile_name: str | None, header: Any) -> Any:
    """The profile that reads the sends when no target's does: --profile, else
    the installed one the recording names (by plain name: the file came from elsewhere)."""
    from wsctl.files.profiles import load_installed, load_profile

    if profile_name:
        return load_profile(profile_name, environ=env.environ)
    if not header.profile:
        return None
    try:
        return load_installed(header.profile, environ=env.environ)
    except InvalidInput as exc:
        env.warn(f"the recording names profile {header.profile!r}, which cannot be loaded ({exc.message})")
        return None


def _readings(plan: Any, profile: Any) -> list[Any]:
    """How the device reads each send of the first loop (later loops repeat them); [] without a profile."""
    if profile is None:
        return []
    from wsctl.core.record.replay import OutgoingReader

    reader = OutgoingReader(profile)
    return [reader.read(send.message) for send in plan.sends if send.loop == 0]


def confirm_sends(env: Environment, plan: Any, profile: Any, devices: list[str], yes: bool, file: str) -> None:
    """A recording's dangerous commands need what `send`'s do (--yes, or a
    confirmation on a terminal; exit 9, nothing sent); a send the device could
    read more than one way (duplicate keys ...) needs --yes: nobody can say what
    it would run."""
    from wsctl.cli.support.profile_use import confirm_danger

    if yes:
        return
    readings = _readings(plan, profile)
    for index, reading in enumerate(readings, start=1):
        if reading.problems:
            raise NotAuthorized(
                f"{file}: send {index} has no single reading ({reading.describe()}); nothing was sent",
                hint="--dry-run --profile NAME shows it whole; --yes sends it as recorded",
            )
    asked = set()
    for index, reading in enumerate(readings, start=1):
        if reading.dangerous and reading.command.key not in asked:
            asked.add(reading.command.key)
            try:
                confirm_danger(env, reading.command, reading.params, devices, yes)
            except NotAuthorized as exc:
                raise NotAuthorized(f"{file}: send {index}: {exc.message}", hint=exc.hint) from None


def _dry_run(env: Environment, plan: Any, mode: str, profile: Any) -> int:
    """--dry-run: every send with its time and anchor, and what is expected back;
    with a profile, what the device reads it as (a message with more than one
    reading is shown whole, flagged)."""
    readings = _readings(plan, profile)
    for send in plan.sends:
        when = f"+{send.at:.3f}s" if send.anchor == "start" else f"reply+{send.at:.3f}s"
        reading = readings[send.index % len(readings)] if readings else None
        meaning = reading.describe() if reading is not None else ""
        fields = {"reading": meaning or None, "ambiguous": bool(reading.problems)} if reading is not None else {}
        text = _text(send.message, limit=2**62 if reading is not None and reading.problems else 100)
        env.emit(
            {
                "event": "send",
                "index": send.index + 1,
                "loop": send.loop + 1,
                "at": round(send.at, 6),
                "anchor": send.anchor,
                "expect": send.expect,
                **_message_fields(send.message),
                **fields,
            },
            f"{send.index + 1:5d} {when:>16} > {text}  (expects {send.expect})"
            + (f"  [{_text(meaning, 200)}]" if meaning else ""),
        )
    env.emit(
        {"event": "plan", "sends": len(plan.sends), "expected": len(plan.expected), "mode": mode},
        f"{len(plan.sends)} sends, {len(plan.expected)} answers expected ({mode} mode)",
    )
    return 0


def _message_fields(message: str | bytes) -> dict[str, str]:
    """`type` and `data` (binary as base64) of a message to send, as JSON lines show it."""
    if isinstance(message, str):
        return {"type": "text", "data": message}
    return {"type": "binary", "data": base64.b64encode(message).decode("ascii")}


def _live_replay(
    env: Environment,
    plan: Any,
    url: str,
    kwargs: dict,
    rules: Any,
    reply_timeout: float,
    step: bool,
    id_pointers: Any,
    keep: Any,
    no_compare: bool = False,
) -> Any:
    """The replay against the device, as the async function run_async runs."""
    from wsctl.cli.support.progress import StatusLine

    verbose = env.verbosity >= 1 and not env.json
    # `[120/400 sent]` while a long replay runs; not with --step, which prompts on the same line
    status = StatusLine(env, enabled=not step)
    total = len(plan.sends)

    async def main():
        import trio

        from wsctl.net.api import open_device
        from wsctl.net.replayer import replay as run_replay

        async def wait_for_enter(send) -> None:
            if env.json:  # every stderr line stays JSON: the prompt is an event
                import json

                event = {"event": "step", "index": send.index + 1, "total": total, **_message_fields(send.message)}
                env.stderr.write(json.dumps(event, ensure_ascii=False) + "\n")
            else:
                env.stderr.write(f"[{send.index + 1}/{total}] > {_text(send.message)}  (Enter to send) ")
            env.stderr.flush()
            line = await trio.to_thread.run_sync(env.stdin.readline, abandon_on_cancel=True)
            if not env.json and not (line and env.stdin_isatty):
                # no terminal echoed the Enter: end the prompt's line before anything else
                env.stderr.write("\n")
            if not line:
                raise UsageError("--step: stdin closed before the replay was done")

        def on_send(sent) -> None:
            if verbose:
                env.stderr.write(f"> [{sent.send.index + 1}/{len(plan.sends)}] {_text(sent.send.message)}\n")
            status.show(f"replay [{sent.send.index + 1}/{total} sent]", now=sent.send.index + 1 == total)

        def on_gap(send, seconds: float) -> None:
            from wsctl.cli.support.replay_result import long_gap_text

            env.warn(long_gap_text(send, seconds))

        def on_receive(message) -> None:
            if verbose:
                env.stderr.write(f"< {_text(message)}\n")

        async with open_device(url, **kwargs) as dev:
            try:
                return await run_replay(
                    dev,
                    plan,
                    ignore=rules,
                    reply_timeout=reply_timeout,
                    on_send=on_send,
                    on_receive=on_receive,
                    step=wait_for_enter if step else None,
                    id_pointers=id_pointers,
                    keep=keep,
                    on_gap=on_gap,
                    compare_answers=not no_compare,
                )
            finally:
                status.done()

    return main


def _write_junit(path: str, file: str, result, plan, no_compare: bool, started: float, elapsed: float) -> None:
    from wsctl.cli.support.junit_file import write_junit
    from wsctl.core.record.verdicts import replay_cases

    closed = f"the device closed the connection after {len(result.sent)} sends" if result.closed is not None else None
    cases = replay_cases(plan, None if no_compare else result.report, len(result.sent), f"replay {file}", closed=closed)
    write_junit(path, f"replay {file}", cases, started=started, elapsed=elapsed)


def _reply_filter(env: Environment, file: str, profile_name: str | None, strict: bool):
    """`--replies-only`: the profile that tells replies from telemetry."""
    from wsctl.core.profile.fields import is_reply
    from wsctl.files.profiles import load_installed, load_profile
    from wsctl.files.recording_reader import open_recording

    if profile_name:
        profile = load_profile(profile_name, environ=env.environ)
    else:
        name = open_recording(file, strict=strict).header.profile
        if not name:
            raise UsageError("--replies-only needs a profile to tell replies from telemetry", hint="--profile NAME")
        # the recording's field names an installed profile, never a path: the file came from elsewhere
        profile = load_installed(name, environ=env.environ)
    return lambda message: is_reply(profile, message)


def _id_pointers(profile) -> tuple[str, ...]:
    """Where answers carry their request id: the profile's result/error rules, else JSON-RPC's /id."""
    from wsctl.core.record.compare import ID_POINTERS

    if profile is None or profile.framing.encoding != "json":
        return ID_POINTERS
    pointers = tuple(dict.fromkeys(r.id for r in profile.framing.inbound if r.kind in ("result", "error") and r.id))
    return pointers or ID_POINTERS


def _finish(env: Environment, result, plan, no_compare: bool, mode: str = "original") -> int:
    from wsctl.cli.support.replay_result import judged

    obj, human_lines, error = judged(result, plan, no_compare, mode)
    env.emit(obj, "\n".join(human_lines))
    if error is not None:
        raise error
    return 0
