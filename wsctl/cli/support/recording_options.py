"""`--record FILE` for client verbs (watch, connect): the same three options and
one way to open a recorder, so every verb records the same way."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import click


def recording_options(fn: Callable) -> Callable:
    """Adds --record, --max-size, --redact; the command receives `recording: dict`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        kwargs["recording"] = {
            "path": kwargs.pop("record"),
            "max_size": kwargs.pop("max_size"),
            "redact": kwargs.pop("redact"),
        }
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--record",
            type=click.Path(dir_okay=False),
            default=None,
            help="Record every message (both directions, with timing) to FILE; see docs/record-format.md.",
        ),
        click.option(
            "--max-size",
            type=click.IntRange(min=1024),
            default=None,
            help="With --record: rotate to FILE.1, FILE.2 ... after BYTES.",
        ),
        click.option(
            "--redact",
            multiple=True,
            metavar="POINTER|re:REGEX",
            help="With --record: blank this part of messages before it reaches the disk (repeatable).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def open_recorder(
    recording: dict[str, Any], url: str, kwargs: dict[str, Any], profile: Any = None, *, devices: int = 1
):
    """A `Recorder` for the session, or a null context when not recording."""
    if not recording["path"]:
        if recording["max_size"] or recording["redact"]:
            raise click.UsageError("--max-size and --redact need --record FILE")
        return contextlib.nullcontext(None)
    if devices > 1:
        # a recording has one device in its header and is replayed to one target
        raise click.UsageError("--record records one device; watch the others separately (one file each)")
    from wsctl.net.recorder import Recorder

    return Recorder.for_client(
        recording["path"],
        url,
        kwargs,
        profile=profile.id if profile is not None else None,
        max_size=recording["max_size"],
        redact=recording["redact"],
    )


def device_opener(recorder: Any, url: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    """What to call to open the device: recorded when a recorder is given."""
    if recorder is not None:
        return lambda: recorder.open(url, **kwargs)
    from wsctl.net.api import open_device

    return lambda: open_device(url, **kwargs)
