"""Options and helpers the record verbs share."""

from __future__ import annotations

from typing import Any, Callable

import click

from wsctl.cli.env import Environment


def recording_options(fn: Callable) -> Callable:
    """-o FILE, --max-size, --redact: how a recording is written."""
    for option in reversed([
        click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Recording file (JSON Lines; overwritten)."),
        click.option("--max-size", type=click.IntRange(min=4096), default=None, metavar="BYTES",
                     help="Rotate to FILE.1, FILE.2 ... when a file would pass BYTES."),
        click.option("--redact", "redact", multiple=True, metavar="POINTER|re:REGEX",
                     help="Mask this JSON Pointer (/params/password) or regex in every message before it is written (repeatable)."),
    ]):
        fn = option(fn)
    return fn


def warn_to(env: Environment) -> Callable[[str], None]:
    return lambda message: env.warn(message)


def summary(env: Environment, rec: Any, started: float) -> None:
    import time

    files = rec.files
    obj = {"event": "recorded", "file": rec.path, "files": files, "events": rec.events, "bytes": rec.bytes,
           "duration": round(time.monotonic() - started, 3), "redacted": rec.redactor.hits}
    more = f" in {len(files)} files" if len(files) > 1 else ""
    red = f", {rec.redactor.hits} messages redacted" if rec.redactor else ""
    env.emit(obj, f"recorded {rec.events} events ({rec.bytes} bytes) to {rec.path}{more}{red}")
