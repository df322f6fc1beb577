"""Helpers for the profile tests (a uniquely named module: `conftest` is
ambiguous across test directories under rootdir imports)."""

from __future__ import annotations

from pathlib import Path

from cli_runner import run_in_process

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("conveyor", "ocpp16", "ocpp16-charger", "ocpp201", "ocpp201-charger", "psu", "shelly-gen2")
#: central-system profiles (the hub's view of a charger): [central], no [sim]
CENTRAL = ("ocpp16", "ocpp201")

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
    out = run_in_process(*argv, cwd=cwd, environ=environ, input=stdin)
    return out.returncode, out.stdout, out.stderr
