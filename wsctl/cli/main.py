"""The `wsctl` entry point: the top-level group, global options, exit codes.

Subcommands are registered by module path and imported only when used (or when
`--help` lists them), so start-up never pays for trio or cryptography; those are
imported inside the commands that need them.
"""

from __future__ import annotations

import importlib
import signal
import sys

import click

from wsctl import __version__
from wsctl.cli.support.env import Environment

# verb -> "module:attribute"; one module per verb (or per verb group)
COMMANDS: dict[str, str] = {
    "certs": "wsctl.cli.certs:certs",
    "connect": "wsctl.cli.connect:connect",
    "demo": "wsctl.cli.demo:demo",
    "exit-codes": "wsctl.cli.exit_codes:exit_codes",
    "hub": "wsctl.cli.hub:hub",
    "profile": "wsctl.cli.profile:profile",
    "record": "wsctl.cli.record:record",
    "replay": "wsctl.cli.replay:replay",
    "run": "wsctl.cli.run:run",
    "send": "wsctl.cli.send:send",
    "serve": "wsctl.cli.serve:serve",
    "test": "wsctl.cli.test_verb:test",
    "watch": "wsctl.cli.watch:watch",
}

# verb -> its one-line help, so `wsctl --help` lists verbs without importing
# them (each import costs start-up time); tests/test_cli_basics.py checks these
# match the commands' own help
SUMMARIES: dict[str, str] = {
    "certs": "Provision the plant PKI: CA, device and operator certificates, CRL.",
    "connect": "Open an interactive console to one device.",
    "demo": "Run the whole tool on a throwaway PKI, on loopback only.",
    "exit-codes": "Print what each exit status of wsctl means.",
    "hub": "Be the central side devices dial into; operators command them by name.",
    "profile": "Command profiles: one TOML file per kind of equipment.",
    "record": "Record WebSocket sessions losslessly, inspect and convert recordings.",
    "replay": "Send the recorded tool → device messages to a device and compare its answers.",
    "run": "Run a SCRIPT of profile commands against TARGET ('-' reads stdin).",
    "send": "Send COMMAND (from the device's profile) or a raw message; print the reply.",
    "serve": "Serve wss: echo, simulate a device from a profile, or replay a recording.",
    "test": "Run the cases of a SCENARIO file against TARGET: one verdict each.",
    "watch": "Print messages from one or more devices as they arrive.",
}

EPILOG = """\b
EXAMPLES
  wsctl demo                                  # the whole tool on a throwaway PKI
  wsctl certs init --name "Plant CA"          # start a plant PKI in ./certs
  wsctl certs issue device plc-17 --ip 10.0.0.17
  wsctl --json certs list                     # JSON Lines for scripts
  wsctl exit-codes                            # what each exit status means
"""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def __init__(
        self, *args, lazy_commands: dict[str, str] | None = None, summaries: dict[str, str] | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        #: one-line helps known without importing the command (the top level's only:
        #: a sub-group's `certs` is not the top level's `certs`)
        self.summaries = dict(summaries or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            summary = self.summaries.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                summary = command.get_short_help_str(limit=formatter.width - 6 - len(name))
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            from wsctl.core.suggest import closest

            match = closest(args[0], self.list_commands(ctx)) if args else None
            if match is None or "No such command" not in exc.message:
                raise
            raise click.UsageError(f"{exc.message} Did you mean {match!r}?", ctx=ctx) from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            from wsctl.cli.support.config import prepare

            module_name, attr = self.lazy_commands[name].split(":")
            # the full verb path: `certs issue` gets WSCTL_CERTS_ISSUE_* variables
            parent = tuple(ctx.command_path.split()[1:]) if ctx is not None and ctx.parent is not None else ()
            return prepare(getattr(importlib.import_module(module_name), attr), (*parent, name))
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup,
    summaries=SUMMARIES,
    lazy_commands=COMMANDS,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--json", "json_output", is_flag=True, help="One JSON object per line on stdout (stable keys).")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@click.version_option(__version__, prog_name="wsctl")
@click.pass_context
def cli(ctx: click.Context, json_output: bool, verbose: int, quiet: bool) -> None:
    """wsctl: WebSocket over TLS (wss, mutual TLS) for automation equipment.

    Provision a plant PKI, talk to devices, simulate them, record and replay
    what they say.  Every command has --help with examples.
    """
    env = ctx.ensure_object(Environment)
    env.json = json_output
    env.verbosity = -1 if quiet else verbose
    from wsctl.cli.support import logs

    logs.apply(env)
    if env.verbosity >= 1:
        from wsctl.cli.support.config import environment_trace

        for line in [*env.config_trace, *environment_trace(env)]:
            env.debug(line)


def _asks_for_json(argv: list[str] | None) -> bool:
    """`--json` anywhere before `--`: a usage error found while parsing comes
    before the flag itself is processed, and must still be JSON."""
    args = sys.argv[1:] if argv is None else argv
    return "--json" in args[: args.index("--")] if "--" in args else "--json" in args


def _terminate(signum, frame):  # pragma: no cover - exercised through a subprocess test
    from wsctl.core.errors import Interrupted

    raise Interrupted(signum)


#: allocations between young collections while the command starts (Python's default: 700)
STARTUP_YOUNG_THRESHOLD = 100_000


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI and exit with a code from `wsctl.core.exit_table` (the process's entry point).

    The collector is set for a process that starts, does one thing and ends
    (docs/performance.md, "Start-up"): start-up imports build objects that all
    live, and at the default threshold the collector walked them ~50 times, 10 %
    of a one-shot `send`; commands with an event loop get `gc_tuning`'s threshold
    when it starts (`run_async`).  At the end the collector is frozen, so the
    interpreter's exit does not walk every object again (atexit handlers and
    module teardown still run).  Only here, never in `run`: tests call that in-process.
    """
    import gc

    _, middle, old = gc.get_threshold()
    gc.set_threshold(STARTUP_YOUNG_THRESHOLD, middle, old)
    code = run(argv, env)
    gc.freeze()
    sys.exit(code)


def run(argv: list[str] | None = None, env: Environment | None = None) -> int:
    from wsctl.cli.support.errors import report
    from wsctl.core.exit_table import ExitCode

    env = env or Environment()
    from wsctl.cli.support import logs

    logs.install(env)
    # sync commands: SIGTERM becomes an exception so `finally` blocks run; async
    # commands replace this with a trio signal receiver for the duration of the run
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from wsctl.cli.support.config import load_config

        default_map, env.config_trace = load_config(env, cli)
        rv = cli.main(args=argv, prog_name="wsctl", standalone_mode=False, obj=env, default_map=default_map)
    except click.exceptions.Abort:
        env.stderr.write("\n")
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        code = ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
        if env.json or _asks_for_json(argv):
            import json

            from wsctl.cli.support.errors import error_object

            env.stderr.write(json.dumps(error_object(ExitCode(code), None, exc.format_message())) + "\n")
        else:
            exc.show(file=env.stderr)
        return code
    except BaseException as exc:  # noqa: BLE001 - the one place that maps everything
        if isinstance(exc, SystemExit):
            return int(exc.code or 0) if not isinstance(exc.code, str) else 1
        return report(exc, env.stderr, as_json=env.json or _asks_for_json(argv))
    return int(rv) if isinstance(rv, int) else ExitCode.OK
