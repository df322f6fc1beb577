"""`wsctl record capture TARGET -o FILE`: the plain client-side recorder."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.record.common import recording_options
from wsctl.cli.support.client_options import ClientOptions, client_options
from wsctl.cli.support.env import Environment


@click.command("capture")
@click.argument("target")
@recording_options
@click.option(
    "--duration", type=click.FloatRange(min=0.0, min_open=True), default=None, help="Stop after S seconds (exit 0)."
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Stop after N messages from the device (exit 0)."
)
@click.option(
    "--send", "initial", multiple=True, metavar="MSG", help="Send MSG after connecting, recorded too (repeatable)."
)
@click.option(
    "--profile",
    "profile_name",
    help="Profile (name or file): its subprotocols and path; noted in the recording; device requests answered.",
)
@click.option(
    "--reconnect",
    is_flag=True,
    help="Reconnect with backoff when the connection drops; the gap is marked in the recording.",
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
@client_options
@click.pass_obj
def capture(
    env: Environment,
    target: str,
    output: str,
    max_size,
    redact,
    duration,
    count,
    initial,
    profile_name,
    reconnect,
    max_retries,
    backoff_max,
    client: ClientOptions,
) -> int | None:
    """Record everything a device says (and what wsctl sends it) to FILE.

    Runs until --count, --duration, Ctrl-C/SIGTERM (the file is complete either
    way; exit 130/143), or the device closes (exit 10; with --reconnect the
    gap is recorded and the capture goes on). Each event is on disk the moment
    it happens: a killed recorder loses at most its last, partial line.

    A group or several targets are recorded at once, one file each: -o then
    holds {device} (-o 'line-1/{device}.jsonl'), replaced by each device's
    name; a summary line per device, and the exit code all their endings
    share, else 1.

    \b
    EXAMPLES
      wsctl record capture plc-17 -o plc17.jsonl --duration 3600 --certs certs --operator alice
      wsctl record capture wss://10.0.0.17:8443/ -o s.jsonl --send '{"cmd":"subscribe"}' --count 1000
      wsctl record capture plc-17 -o s.jsonl --reconnect --max-size 100000000 --redact /params/token
      wsctl record capture line-1 -o 'line-1/{device}.jsonl' --duration 600 --reconnect
    """
    from wsctl.cli.support.client_options import reach, resolve_targets
    from wsctl.cli.support.profile_use import ProfileCache
    from wsctl.cli.support.reconnect_options import check_reconnect_flags
    from wsctl.core.backoff import Backoff

    check_reconnect_flags(reconnect, max_retries)
    backoff = Backoff(initial=min(0.5, backoff_max), maximum=backoff_max, max_attempts=max_retries)
    options = _Options(initial, count, duration, reconnect, backoff)
    entries = resolve_targets(env, target, client)
    profiles = ProfileCache(env, profile_name)
    devices = []
    for entry, path in zip(entries, _outputs(output, [e.name for e in entries]), strict=True):
        profile = profiles.for_entry(entry)
        url, kwargs = reach(env, entry, client, profile)
        devices.append((entry, path, url, kwargs, profile))
    if len(devices) == 1:
        from wsctl.cli.record.common import run_recording

        _, path, url, kwargs, profile = devices[0]
        rec = _recorder(path, url, kwargs, profile, max_size, redact)
        run_recording(env, rec, lambda: _capture(rec, url, kwargs, profile, options))
        return None
    return _capture_fleet(env, devices, options, max_size, redact)


class _Options:
    """What every device's capture does: the messages sent first, when it stops, how it reconnects."""

    def __init__(self, initial: tuple[str, ...], count: int | None, duration: float | None, reconnect: bool, backoff) -> None:  # fmt: skip
        self.initial, self.count, self.duration, self.reconnect, self.backoff = (
            initial,
            count,
            duration,
            reconnect,
            backoff,
        )


def _outputs(output: str, names: list[str]) -> list[str]:
    """The file of each device: -o as given for one device; for several, -o must
    hold {device}, replaced by each device's name made safe for a file name."""
    if len(names) == 1:
        return [output.replace("{device}", _file_name(names[0]))]
    if "{device}" not in output:
        from wsctl.core.errors import UsageError

        raise UsageError(
            f"record capture of {len(names)} devices writes one file each: put {{device}} in -o",
            hint="e.g. -o 'line-1/{device}.jsonl'",
        )
    paths = [output.replace("{device}", _file_name(name)) for name in names]
    if len(set(paths)) != len(paths):
        from wsctl.core.errors import UsageError

        twice = sorted({p for p in paths if paths.count(p) > 1})
        raise UsageError(f"two devices would write the same file: {', '.join(twice)}")
    return paths


def _file_name(name: str) -> str:
    """A device name (an alias, or a URL) as one file name: no path, no separators."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name.split("://", 1)[-1]).strip("._") or "device"
    return cleaned[:120]


def _recorder(path: str, url: str, kwargs: dict, profile: Any, max_size, redact):
    from wsctl.net.recorder import Recorder

    return Recorder.for_client(
        path, url, kwargs, profile=profile.id if profile is not None else None, max_size=max_size, redact=redact
    )


async def _capture(rec: Any, url: str, kwargs: dict, profile: Any, options: _Options) -> int:
    """Record one device until --count, --duration or its close; the messages seen."""
    import trio

    from wsctl.net.reconnect import run_with_reconnect

    seen = 0

    async def session(dev) -> int:
        from wsctl.net.session import Session

        nonlocal seen
        for message in options.initial:
            await dev.send(message)
        if options.count is not None and seen >= options.count:
            return seen
        reader = Session(dev, profile)  # answers what the protocol demands (OCPP Heartbeat ...)
        async for _ in reader.events():
            seen += 1
            if options.count is not None and seen >= options.count:
                return seen
        raise reader.closed_error

    with trio.move_on_after(options.duration if options.duration is not None else float("inf")):
        if options.reconnect:
            open_ = lambda: rec.open(url, **kwargs)  # noqa: E731
            await run_with_reconnect(open_, session, backoff=options.backoff, on_gap=rec.gap)
        else:
            async with rec.open(url, **kwargs) as dev:
                await session(dev)
    return seen


def _capture_fleet(env: Environment, devices: list, options: _Options, max_size, redact) -> int:
    """Every device at once, one recording each; a summary line per device as
    it ends (with "device"), an error line for one that could not be recorded."""
    import time

    from wsctl.cli.record.common import summary
    from wsctl.cli.support.fleet import fan_out, overall_exit_code
    from wsctl.cli.support.outcome import emit_outcome
    from wsctl.cli.support.runtime import run_async

    plans = {entry.name: (path, url, kwargs, profile) for entry, path, url, kwargs, profile in devices}
    recorders: dict[str, Any] = {}
    started = time.monotonic()

    async def job(entry) -> Any:
        path, url, kwargs, profile = plans[entry.name]
        rec = recorders[entry.name] = _recorder(path, url, kwargs, profile, max_size, redact)
        with rec:
            await _capture(rec, url, kwargs, profile, options)
        return rec

    summarised: set[str] = set()

    def summarise(device: str) -> None:
        rec = recorders.get(device)
        if device not in summarised and rec is not None and rec.failed is None and env.verbosity >= 0:
            summarised.add(device)
            summary(env, rec, started, device=device)

    def on_done(outcome) -> None:
        summarise(outcome.device)
        if not outcome.ok:
            emit_outcome(env, outcome, fleet=True, fields=lambda _: {}, human=str)

    try:
        outcomes = run_async(lambda: fan_out([d[0] for d in devices], job, parallel=len(devices), on_done=on_done))
    finally:
        # Ctrl-C or SIGTERM, the usual end of a long capture: every file is complete, say so
        for device in recorders:
            summarise(device)
    return int(overall_exit_code(outcomes))
