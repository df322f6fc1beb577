"""`--junit FILE` for the verbs that give verdicts (test, run, replay)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import click

from wsctl.core.errors import WsctlError

junit_option = click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False),
    metavar="FILE",
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
