"""`wsctl record`: capture sessions, run a recording proxy, inspect and convert recordings.

A group cannot both run a default action and hold subcommands cleanly, so the
plain recorder is `record capture TARGET`.  Every verb lives in its own module,
imported only when it runs.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup

VERBS = {
    "capture": "wsctl.cli.record.capture:capture",
    "proxy": "wsctl.cli.record.proxy:proxy",
    "show": "wsctl.cli.record.show:show",
    "convert": "wsctl.cli.record.convert:convert",
}

EPILOG = """\b
EXAMPLES
  wsctl record capture plc-17 -o plc17.jsonl --duration 60 --certs certs --operator alice
  wsctl record capture plc-17 -o s.jsonl --send '{"cmd":"subscribe"}' --redact /params/password
  wsctl record proxy --listen 127.0.0.1:9443 --upstream plc-17 -o session.jsonl \\
        --certs certs --device proxy --operator recorder
  wsctl record show session.jsonl --stats
  wsctl record show session.jsonl --profile conveyor
  wsctl record convert session.jsonl --to har -o session.har
  wsctl record convert devtools.har --to record -o session.jsonl
"""


@click.group("record", cls=LazyGroup, lazy_commands=VERBS, epilog=EPILOG)
def record() -> None:
    """Record WebSocket sessions losslessly, inspect and convert recordings.

    Recordings are JSON Lines (format wsctl-record/1, docs/record-format.md):
    every message with its timing, direction and connection, binary kept as
    base64, close codes, reconnect gaps. Replay them with `wsctl replay`, or
    serve them as a mock device with `wsctl serve --replay`.
    """
