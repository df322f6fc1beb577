"""`wsctl record capture TARGET -o FILE`: the plain client-side recorder."""

from __future__ import annotations

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
) -> None:
    """Record everything a device says (and what wsctl sends it) to FILE.

    Runs until --count, --duration, Ctrl-C/SIGTERM (the file is complete either
    way; exit 130/143), or the device closes (exit 10; with --reconnect the
    gap is recorded and the capture goes on). Each event is on disk the moment
    it happens: a killed recorder loses at most its last, partial line.

    \b
    EXAMPLES
      wsctl record capture plc-17 -o plc17.jsonl --duration 3600 --certs certs --operator alice
      wsctl record capture wss://10.0.0.17:8443/ -o s.jsonl --send '{"cmd":"subscribe"}' --count 1000
      wsctl record capture plc-17 -o s.jsonl --reconnect --max-size 100000000 --redact /params/token
    """
    from wsctl.cli.record.common import one_device, run_recording
    from wsctl.core.backoff import Backoff
    from wsctl.net.recorder import Recorder

    url, kwargs, profile = one_device(env, target, client, profile_name, "record capture")
    backoff = Backoff(initial=min(0.5, backoff_max), maximum=backoff_max, max_attempts=max_retries)
    rec = Recorder.for_client(
        output, url, kwargs, profile=profile.id if profile is not None else None, max_size=max_size, redact=redact
    )

    seen = 0

    async def session(dev) -> int:
        from wsctl.net.session import Session

        nonlocal seen
        for message in initial:
            await dev.send(message)
        if count is not None and seen >= count:
            return seen
        reader = Session(dev, profile)  # answers what the protocol demands (OCPP Heartbeat ...)
        async for _ in reader.events():
            seen += 1
            if count is not None and seen >= count:
                return seen
        raise reader.closed_error

    async def main() -> None:
        import trio

        from wsctl.net.reconnect import run_with_reconnect

        with trio.move_on_after(duration if duration is not None else float("inf")):
            if reconnect:
                await run_with_reconnect(lambda: rec.open(url, **kwargs), session, backoff=backoff, on_gap=rec.gap)
            else:
                async with rec.open(url, **kwargs) as dev:
                    await session(dev)

    run_recording(env, rec, main)
