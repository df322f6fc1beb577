"""`wsctl record plot FILE [FIELD ...]`: telemetry of a recording over time.

On a terminal it draws in the terminal (plotext); `-o plot.png|.svg` writes an
image (matplotlib).  Both come with the optional extra `wsctl[plot]` and are
imported only here, so no other verb pays for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import UsageError, WsctlError

PLOT_HINT = "install the plotting extra: pip install 'wsctl[plot]'"


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise WsctlError(f"plotting needs {module.split('.')[0]}, which is not installed", hint=PLOT_HINT) from None


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if (
        not sep
        or not width.isdigit()
        or not height.isdigit()
        or not (100 <= int(width) <= 10000 and 100 <= int(height) <= 10000)
    ):
        raise UsageError(f"--size expects WIDTHxHEIGHT in pixels (100..10000), got {text!r}")
    return int(width), int(height)


@click.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("fields", nargs=-1, metavar="[FIELD|/POINTER]...")
@click.option(
    "--profile",
    "profile_name",
    help="Decode telemetry by this profile [default: the one named in the recording, if installed].",
)
@click.option("--conn", type=int, default=None, help="Only connection N.")
@click.option(
    "--from", "start", type=float, default=None, help="Start of the window, seconds since the recording began."
)
@click.option("--to", "end", type=float, default=None, help="End of the window, seconds since the recording began.")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    help="Write an image (.png or .svg) instead of drawing in the terminal.",
)
@click.option("--size", default="1200x600", show_default=True, help="Image size in pixels, WIDTHxHEIGHT (with -o).")
@click.option("--strict", is_flag=True, help="Refuse a recording with corrupted lines instead of skipping them.")
@click.pass_obj
def plot(
    env: Environment,
    file: str,
    fields: tuple[str, ...],
    profile_name: str | None,
    conn: int | None,
    start: float | None,
    end: float | None,
    out: str | None,
    size: str,
    strict: bool,
) -> None:
    """Plot telemetry fields of a recording over time.

    Fields are named as the profile decodes them (motor_temp, speed), with the
    profile's units on the axes, or by JSON pointer (/params/load); without
    FIELD every numeric telemetry field is drawn.  Reconnect gaps are shaded
    and closes marked.

    \b
    EXAMPLES
      wsctl record plot session.jsonl motor_temp speed
      wsctl record plot session.jsonl motor_temp -o motor.png --from 60 --to 600
      wsctl record plot session.jsonl /params/load --conn 2 -o load.svg
    """
    from wsctl.core.record.series import extract
    from wsctl.files.recording_reader import open_recording

    width, height = _size(size)
    if out is not None and Path(out).suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"-o {out}: the image is written as .png or .svg")
    reader = open_recording(file, strict=strict, warn=env.warn)
    profile = _profile(env, profile_name or reader.header.profile, explicit=profile_name is not None)
    series, markers = extract(reader, fields, profile=profile, conn=conn, start=start, end=end)
    if not any(s.times for s in series):
        raise WsctlError(
            f"{file}: no numeric values for {', '.join(fields) or 'any telemetry field'} in the window",
            hint="wsctl record show FILE --profile NAME shows what the device sent",
        )
    if out is not None:
        from wsctl.cli.record.plot_image import write_image

        write_image(_need("matplotlib"), series, markers, out, width=width, height=height, title=Path(file).name)
        env.emit(
            {"event": "plotted", "file": out, "series": {s.name: len(s.times) for s in series}},
            f"wrote {out} ({', '.join(f'{s.name}: {len(s.times)} points' for s in series)})",
        )
        return
    if not env.stdout_isatty:
        raise UsageError("stdout is not a terminal: write an image with -o plot.png")
    from wsctl.cli.record.plot_image import draw_terminal

    env.stdout.write(draw_terminal(_need("plotext"), series, markers, title=Path(file).name) + "\n")


def _profile(env: Environment, name: str | None, *, explicit: bool) -> Any:
    from wsctl.core.errors import InvalidInput
    from wsctl.files.profiles import load_installed, load_profile

    if name is None:
        return None
    if explicit:
        return load_profile(name, environ=env.environ)
    try:
        # a recording names its profile; only an installed one is used (files from elsewhere)
        return load_installed(name, environ=env.environ)
    except InvalidInput:
        return None
