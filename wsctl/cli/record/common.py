"""Options and helpers the record verbs share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from wsctl.cli.support.env import Environment


def recording_options(fn: Callable) -> Callable:
    """-o FILE, --max-size, --redact: how a recording is written."""
    for option in reversed(
        [
            click.option(
                "-o",
                "--output",
                required=True,
                type=click.Path(dir_okay=False),
                help="Recording file (JSON Lines; overwritten).",
            ),
            click.option(
                "--max-size",
                type=click.IntRange(min=4096),
                default=None,
                metavar="BYTES",
                help="Rotate to FILE.1, FILE.2 ... when a file would pass BYTES.",
            ),
            click.option(
                "--redact",
                "redact",
                multiple=True,
                metavar="POINTER|re:REGEX",
                help="Mask this JSON Pointer (/params/password) or regex in every message before it is written (repeatable).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def one_device(
    env: Environment, target: str, client: Any, profile_name: str | None, what: str
) -> tuple[str, dict[str, Any], Any]:
    """(url, open_device kwargs, profile or None) for a TARGET that must name one device."""
    from wsctl.cli.support.client_options import one_target, reach
    from wsctl.cli.support.profile_use import ProfileCache

    entry = one_target(env, target, client, what=what, hint="one recording per device")
    profile = ProfileCache(env, profile_name).for_entry(entry)
    url, kwargs = reach(env, entry, client, profile)
    return url, kwargs, profile


def run_recording(env: Environment, rec: Any, main: Callable[[], Any]) -> None:
    """Run ``main`` under trio with ``rec`` open; the summary is printed however
    it ends (count reached, Ctrl-C, device gone), unless writing itself failed."""
    import time

    from wsctl.cli.support.runtime import run_async

    started = time.monotonic()
    try:
        with rec:
            run_async(main)
    finally:
        if rec.failed is None and env.verbosity >= 0:
            summary(env, rec, started)


def summary(env: Environment, rec: Any, started: float, *, device: str | None = None) -> None:
    import time

    files = rec.files
    obj = {
        "event": "recorded",
        **({"device": device} if device is not None else {}),
        "file": rec.path,
        "files": files,
        "events": rec.events,
        "bytes": rec.bytes,
        "duration": round(time.monotonic() - started, 3),
        "redacted": rec.redactor.hits,
    }
    more = f" in {len(files)} files" if len(files) > 1 else ""
    red = f", {rec.redactor.hits} messages redacted" if rec.redactor else ""
    who = f"{device}: " if device is not None else ""
    env.emit(obj, f"{who}recorded {rec.events} events ({rec.bytes} bytes) to {rec.path}{more}{red}")
