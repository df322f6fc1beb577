"""`wsctl watch`: stream what devices send, until a count, a duration, or Ctrl-C."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import click

from wsctl.cli.support.client_options import (
    ClientOptions,
    client_options,
    long_running,
    note_subprotocol,
    reach,
    resolve_targets,
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.recording_options import device_opener, open_recorder, recording_options
from wsctl.core.errors import Timeout, UsageError, WsctlError


@click.command("watch")
@click.argument("targets", nargs=-1, required=True)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N messages (per device).")
@click.option("--duration", type=click.FloatRange(min=0.0, min_open=True), default=None, help="Stop after S seconds.")
@click.option(
    "--profile", "profile_name", help="Decode messages by this profile (name or file) [default: the inventory's]."
)
@click.option(
    "--match", "pattern", default=None, help="Only show messages matching this regex (text, or base64 of binary)."
)
@click.option(
    "--send",
    "initial",
    multiple=True,
    metavar="MSG",
    help="Send MSG after connecting (e.g. a subscription; repeatable).",
)
@click.option(
    "--reconnect", is_flag=True, help="Reconnect with exponential backoff and jitter when the connection drops."
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=None,
    help="With --reconnect: give up after N failed attempts in a row.",
)
@click.option(
    "--backoff-max",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="With --reconnect: longest wait between attempts.",
)
@click.option(
    "--plot",
    "plot_fields",
    multiple=True,
    metavar="FIELD|/POINTER",
    help="Draw this telemetry field live in the terminal instead of printing lines (repeatable; needs wsctl[plot]).",
)
@recording_options
@client_options
@click.pass_obj
def watch(
    env: Environment,
    targets: tuple[str, ...],
    count,
    duration,
    profile_name,
    pattern,
    initial,
    reconnect,
    max_retries,
    backoff_max,
    plot_fields: tuple[str, ...],
    recording: dict,
    client: ClientOptions,
) -> int:
    """Print messages from one or more devices as they arrive.

    Text is printed as text, binary as base64. When stdout is not a terminal
    (or with --json) each message is one JSON line:
    {"time", "device", "direction", "type", "data"}; a fleet's per-device
    summaries are JSON lines too, with "event": "summary". Exit 0 when --count
    (or, without --count, --duration) is reached; 6 when --duration ends before
    --count is reached; 10 if a device closes first (without --reconnect).

    \b
    EXAMPLES
      wsctl watch plc-17 --certs certs --operator alice
      wsctl --json watch line-1 --duration 60 > telemetry.jsonl
      wsctl watch wss://10.0.0.17:8443/ --count 10 --match '"temp"'
      wsctl watch plc-17 --reconnect --send '{"cmd":"subscribe"}'
      wsctl watch plc-17 --record session.jsonl --redact /params/token --duration 600
      wsctl watch belt-1 --profile conveyor --plot motor_temp --plot speed
    """
    from wsctl.cli.support.profile_use import ProfileCache
    from wsctl.cli.support.reconnect_options import check_reconnect_flags
    from wsctl.cli.support.runtime import run_async
    from wsctl.core.backoff import Backoff

    check_reconnect_flags(reconnect, max_retries)
    try:
        matcher = re.compile(pattern) if pattern is not None else None
    except re.error as exc:
        raise UsageError(f"--match: not a valid regex: {exc}") from None
    client = long_running(client)
    entries = resolve_targets(env, targets, client)
    profiles = ProfileCache(env, profile_name)
    plans: dict[str, _Plan] = {}
    for entry in entries:
        profile = profiles.for_entry(entry)
        url, kwargs = reach(env, entry, client, profile)
        plans[entry.name] = _Plan(entry, url, kwargs, profile)
    first = next(iter(plans.values()))
    live = _live_plot(env, plot_fields, plans, first) if plot_fields else None
    # the recorder wraps the whole run: Ctrl-C and SIGTERM still leave a complete file
    run = None
    try:
        with open_recorder(recording, first.url, first.kwargs, first.profile, devices=len(plans)) as recorder:
            run = _Watch(
                env,
                plans,
                recorder,
                count=count,
                duration=duration,
                matcher=matcher,
                initial=initial,
                reconnect=reconnect,
                max_retries=max_retries,
                backoff=Backoff(initial=min(0.5, backoff_max), maximum=backoff_max, max_attempts=max_retries),
                live=live,
            )
            outcomes = run_async(run.main)
    finally:
        if live is not None:
            live.close()
            if run is not None:
                for outcome in run.deferred:
                    run.report(outcome)
    from wsctl.cli.support.fleet import overall_exit_code

    return int(overall_exit_code(outcomes))


def _live_plot(env: Environment, fields: tuple[str, ...], plans: dict, first: Any) -> Any:
    """The live plot for --plot: one device, a terminal, and a profile for field names."""
    if len(plans) > 1:
        raise UsageError("--plot draws one device; watch a fleet without it")
    if env.json or not env.stdout_isatty:
        raise UsageError("--plot draws on a terminal; without one, record (--record FILE) and use wsctl record plot")
    if any(not f.startswith("/") for f in fields) and first.profile is None:
        raise UsageError(
            "--plot field names come from a profile: give --profile (or JSON pointers, e.g. /params/speed)"
        )
    from wsctl.cli.record.plot import _need
    from wsctl.cli.support.live_plot import LivePlot

    units = (
        {}
        if first.profile is None
        else {f.name: f.unit for e in first.profile.events.values() for f in e.fields if f.unit}
    )
    return LivePlot(_need("plotext"), env.stdout, fields, units, title=first.entry.name)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """One device to watch: its inventory entry, URL, open_device arguments, profile."""

    entry: Any
    url: str
    kwargs: dict[str, Any]
    profile: Any


class _Watch:
    """One `wsctl watch` run: every device at once, each through its own `Session`."""

    def __init__(
        self,
        env: Environment,
        plans: dict[str, _Plan],
        recorder: Any,
        *,
        count: int | None,
        duration: float | None,
        matcher: re.Pattern[str] | None,
        initial: tuple[str, ...],
        reconnect: bool,
        max_retries: int | None,
        backoff: Any,
        live: Any = None,
    ) -> None:
        self.env, self.plans, self.recorder, self.live = env, plans, recorder, live
        self.deferred: list[Any] = []
        self.count, self.duration, self.matcher, self.initial = count, duration, matcher, initial
        self.reconnect, self.max_retries, self.backoff = reconnect, max_retries, backoff
        self.fleet = len(plans) > 1
        self.as_json = env.streaming_json()
        self.deadline = float("inf")
        import time

        self.started = time.monotonic()

    def show(self, record: dict) -> None:
        from wsctl.cli.support.render import event_line

        if self.live is not None:
            import time

            self.live.add(record, time.monotonic() - self.started)
            return
        human = event_line(record, show_device=self.fleet)
        record.pop("fields_text", None)
        self.env.emit(record, human, as_json=self.as_json)

    def note(self, event: dict, human: str) -> None:
        if self.live is not None:
            if event.get("event") == "gap":
                import time

                self.live.gap(time.monotonic() - self.started)
            return
        # gaps go into the stream itself, so a reader of the JSON lines sees them
        if self.as_json:
            self.env.emit(event, as_json=True)
        else:
            self.env.info(human)

    async def main(self) -> Any:
        import trio

        from wsctl.cli.support.fleet import fan_out

        self.deadline = trio.current_time() + self.duration if self.duration is not None else float("inf")
        # a watch runs until stopped, so every device is watched at once
        # (--parallel would starve the devices beyond it)
        return await fan_out(
            [p.entry for p in self.plans.values()], self.watch_one, parallel=len(self.plans), on_done=self.on_done
        )

    def on_done(self, outcome: Any) -> None:
        if self.live is not None:
            # the live plot owns the screen: say how it ended once the screen is back
            self.deferred.append(outcome)
            return
        self.report(outcome)

    def report(self, outcome: Any) -> None:
        from wsctl.cli.support.outcome import emit_outcome
        from wsctl.cli.support.render import count as count_text

        if self.fleet or not outcome.ok:
            emit_outcome(
                self.env,
                outcome,
                fleet=self.fleet,
                fields=lambda n: {"messages": n},
                human=lambda n: count_text(n, "message"),
                as_json=self.as_json,
                event="summary",
            )

    async def watch_one(self, entry: Any) -> int:
        import trio

        from wsctl.cli.support.render import count as count_text
        from wsctl.cli.support.render import event_record, now_iso
        from wsctl.net.reconnect import run_with_reconnect
        from wsctl.net.session import Session

        plan, count = self.plans[entry.name], self.count
        seen = 0
        gaps: list[Any] = []

        async def session(dev) -> int:
            nonlocal seen
            note_subprotocol(self.env, entry.name, dev, plan.kwargs["subprotocols"])
            if gaps:
                self.note(
                    {"event": "reconnected", "device": entry.name, "time": now_iso()}, f"-- {entry.name}: reconnected"
                )
            for message in self.initial:
                await dev.send(message)
            if count is not None and seen >= count:
                return seen
            # the session reads one message per event: nothing is read (or
            # recorded) ahead of what --count lets through
            reader = Session(dev, plan.profile)
            async for item in reader.events():
                record = event_record(entry.name, item)
                if self.matcher is not None and not self.matcher.search(record["data"]):
                    continue
                seen += 1
                self.show(record)
                if count is not None and seen >= count:
                    return seen
            # the device closed normally before --count or --duration: still not what was asked
            raise reader.closed_error

        def on_gap(gap) -> None:
            gaps.append(gap)
            if self.recorder is not None:
                self.recorder.gap(gap)
            self.note(
                {
                    "event": "gap",
                    "device": entry.name,
                    "time": now_iso(),
                    "reason": gap.error.message,
                    "retry_in": round(gap.delay, 3),
                },
                f"-- {entry.name}: {gap.error.message}; reconnecting in {gap.delay:.1f} s",
            )

        opener = device_opener(self.recorder, plan.url, plan.kwargs)
        # the duration ends each device's watch, so fleets still get one
        # summary line per device: a success, unless --count was not reached
        with trio.move_on_at(self.deadline):
            if not self.reconnect:
                async with opener() as dev:
                    return await session(dev)
            try:
                return await run_with_reconnect(opener, session, backoff=self.backoff, on_gap=on_gap)
            except WsctlError as exc:
                # a TLS or 4xx refusal is raised at once by run_with_reconnect;
                # only a retryable error can mean the retries ran out
                if self.max_retries is not None and len(gaps) >= self.max_retries:
                    exc.message = f"{exc.message} (gave up after {self.max_retries} reconnect attempts)"
                raise
        if count is not None and seen < count:
            # silence is not success: a job asking for N messages must learn it got fewer
            raise Timeout(
                f"{entry.name}: {seen} of {count_text(count, 'message')} within {self.duration:g} s",
                hint="the device was silent, or --match filtered its messages",
            )
        return seen
