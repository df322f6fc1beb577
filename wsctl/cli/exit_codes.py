"""`wsctl exit-codes`: print the exit code table."""

from __future__ import annotations

import click

from wsctl.cli.support.env import Environment


@click.command("exit-codes")
@click.pass_obj
def exit_codes(env: Environment) -> None:
    """Print what each exit status of wsctl means.

    \b
    EXAMPLES
      wsctl exit-codes
      wsctl --json exit-codes | jq 'select(.code==4)'
    """
    from wsctl.core.exit_table import DESCRIPTIONS

    for code, text in DESCRIPTIONS.items():
        env.emit({"code": int(code), "name": code.name.lower(), "description": text}, f"{int(code):>3}  {text}")
