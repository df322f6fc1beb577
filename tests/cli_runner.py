"""The two ways the tests run wsctl, for every test folder (tests/conftest.py puts
this directory on sys.path).

`run_in_process` calls `wsctl.cli.main.run` with an injected environment: no
interpreter start-up, so use it wherever a subprocess is not the point.
`run_subprocess` runs `python -m wsctl` as a user does: for exit by signal,
start-up imports, terminals, and processes that must outlive a call.
Both return a `subprocess.CompletedProcess` (returncode, stdout, stderr as text).
Every run is bounded: the subprocess by its timeout, the in-process run by the
verb's own bounded waits.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_in_process(
    *args: str,
    cwd: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    input: str = "",
) -> subprocess.CompletedProcess:
    """`wsctl ARGS` in this process; ENVIRON is the whole environment the verb sees."""
    from wsctl.cli.main import run
    from wsctl.cli.support.env import Environment

    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(input), environ=dict(environ or {}))
    old_cwd = os.getcwd()
    old_sigterm = signal.getsignal(signal.SIGTERM)  # `run` installs its own
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = run(list(args), env)
    finally:
        os.chdir(old_cwd)
        signal.signal(signal.SIGTERM, old_sigterm)
    return subprocess.CompletedProcess(["wsctl", *args], int(code), env.stdout.getvalue(), env.stderr.getvalue())


def run_subprocess(
    *args: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    """`python -m wsctl ARGS`; ENV is added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "wsctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        input=input,
        env={**os.environ, **(env or {})},
    )
