"""`--junit FILE` for the verbs that give verdicts (test, run, replay)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import click

from wsctl.core.errors import InvalidInput, WsctlError


def check_junit_path(path: str) -> None:
    """Refuse a report file that could not be written at the end, before anything
    is sent (as `write_output` would refuse it then: InvalidInput).  A regular file
    is replaced through a temporary file beside it, so its directory must be writable."""
    import os
    import stat

    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InvalidInput(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from None
    folder = os.path.dirname(os.path.abspath(path))
    if info is not None and not stat.S_ISREG(info.st_mode):
        reason = None if os.access(path, os.W_OK) else "it is not writable"  # a FIFO, /dev/stdout: written through
    elif not os.path.isdir(folder):
        reason = f"no such directory {folder}"
    elif not os.access(folder, os.W_OK | os.X_OK):
        reason = f"the directory {folder} is not writable"
    else:
        reason = None
    if reason is not None:
        raise InvalidInput(f"cannot write the JUnit report {path}: {reason}", hint="nothing was sent")


def _checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        check_junit_path(value)
    return value


junit_option = click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    callback=_checked,
    help="Also write the verdicts as JUnit XML to FILE (what Jenkins, GitLab, GitHub Actions and Azure read).",
)


def utc_timestamp(epoch: float) -> str:
    """The JUnit schema's timestamp form: UTC, seconds, no zone."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def write_junit(
    path: str,
    suite: str,
    cases: Iterable,
    *,
    started: float,
    elapsed: float,
    properties: Iterable[tuple[str, str]] = (),
) -> None:
    import socket

    from wsctl.cli.support.output_file import write_output
    from wsctl.core.junit import junit_xml

    text = junit_xml(
        suite,
        cases,
        timestamp=utc_timestamp(started),
        hostname=socket.gethostname() or "localhost",
        time=elapsed,
        properties=properties,
    )
    try:
        write_output(path, text.encode("utf-8"))
    except OSError as exc:
        raise WsctlError(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from None
