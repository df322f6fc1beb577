"""`wsctl record`: capture sessions, run a recording proxy, inspect and convert recordings.

The forms the issue promises are routed here, before click picks a verb:
``wsctl record TARGET -o FILE`` is ``record capture TARGET -o FILE`` and
``wsctl record --listen HOST:PORT --upstream TARGET -o FILE`` is ``record
proxy ...``.  A first argument that names a verb (``show``, ``convert`` ...)
is never rewritten, so a device alias that happens to be called ``show``
needs the explicit ``record capture show``.  Every verb lives in its own
module, imported only when it runs.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup

VERBS = {
    "capture": "wsctl.cli.record.capture:capture",
    "proxy": "wsctl.cli.record.proxy:proxy",
    "show": "wsctl.cli.record.show:show",
    "convert": "wsctl.cli.record.convert:convert",
    "plot": "wsctl.cli.record.plot:plot",
}

#: options only the proxy has; any of them makes a verb-less call a proxy
PROXY_OPTIONS = ("--listen", "--upstream")

EPILOG = """\b
EXAMPLES
  wsctl record plc-17 -o plc17.jsonl --duration 60 --certs certs --operator alice
  wsctl record plc-17 -o s.jsonl --count 1000 --send '{"cmd":"subscribe"}' --redact /params/password
  wsctl record --listen 127.0.0.1:9443 --upstream plc-17 -o session.jsonl \\
        --certs certs --device proxy --operator recorder --profile conveyor
  wsctl record show session.jsonl --stats
  wsctl record show session.jsonl --profile conveyor
  wsctl record convert session.jsonl --to har -o session.har
  wsctl record convert devtools.har --to record -o session.jsonl

\b
`wsctl record TARGET ...` is short for `wsctl record capture TARGET ...`,
`wsctl record --listen ... --upstream ...` for `wsctl record proxy ...`.
"""


def _global_flag(arg: str) -> bool:
    """`--json`, `--quiet`, `--verbose`, and `-q`, `-v` alone or combined (`-vv`,
    `-vq`): the global flags (`wsctl.cli.support.config`), accepted before the
    verb as after it."""
    return arg in ("--json", "--quiet", "--verbose") or (len(arg) > 1 and arg[0] == "-" and set(arg[1:]) <= {"v", "q"})


def route(args: list[str], help_names: tuple[str, ...] = ("-h", "--help")) -> list[str]:
    """The arguments with the implied verb inserted (unchanged when a verb is
    given), after any global flags that come first (`wsctl record -q show F`)."""
    at = next((i for i, arg in enumerate(args) if not _global_flag(arg)), len(args))
    if at == len(args) or args[at] in VERBS or args[at] in help_names:
        return args
    proxy = any(arg in PROXY_OPTIONS or arg.startswith(tuple(o + "=" for o in PROXY_OPTIONS)) for arg in args)
    return [*args[:at], "proxy" if proxy else "capture", *args[at:]]


class RecordGroup(LazyGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, route(list(args), tuple(ctx.help_option_names)))


@click.group("record", cls=RecordGroup, lazy_commands=VERBS, epilog=EPILOG)
def record() -> None:
    """Record WebSocket sessions losslessly, inspect and convert recordings.

    Recordings are JSON Lines (format wsctl-record/1, docs/record-format.md):
    every message with its timing, direction and connection, binary kept as
    base64, close codes, reconnect gaps. Replay them with `wsctl replay`, or
    serve them as a mock device with `wsctl serve --replay`.
    """
