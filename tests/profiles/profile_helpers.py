"""Helpers for the profile tests (a uniquely named module: `conftest` is
ambiguous across test directories under rootdir imports)."""

from __future__ import annotations

import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("conveyor", "ocpp16-charger", "psu")

MINIMAL = """\
format = "wsctl-profile/1"
[profile]
id = "{id}"
title = "{title}"
[framing]
preset = "jsonrpc2"
[commands.ping]
name = "ping"
"""


def run_cli(argv, *, cwd=None, environ=None, stdin=""):
    """Run `wsctl ARGV` in-process; (exit code, stdout, stderr)."""
    import os

    from wsctl.cli.env import Environment
    from wsctl.cli.main import run

    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(stdin), environ=dict(environ or {}))
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = run(list(argv), env)
    finally:
        os.chdir(old)
    return code, env.stdout.getvalue(), env.stderr.getvalue()
