"""The `wsctl` entry point: the top-level group, global options, exit codes.

Subcommands are registered by module path and imported only when used (or when
`--help` lists them), so start-up never pays for trio or cryptography; those are
imported inside the commands that need them.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn


def _interrupted_at_start() -> NoReturn:
    """Ctrl-C while the interpreter is still loading the CLI: exit 130 as
    later (and under --json with the error object), not with a traceback."""
    args = sys.argv[1:]
    if "--json" in (args[: args.index("--")] if "--" in args else args):
        sys.stderr.write('{"error": "interrupted", "message": "interrupted", "exit_code": 130}\n')
    raise SystemExit(130)


try:
    import importlib

    import click

    from wsctl import __version__
    from wsctl.cli.support.env import Environment
except KeyboardInterrupt:  # pragma: no cover - exercised through a subprocess test
    _interrupted_at_start()

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


def _interrupt(signum, frame):  # pragma: no cover - exercised through a subprocess test
    """SIGINT and SIGTERM become `Interrupted`, so `finally` blocks run and the
    error is reported like any other (click would turn a KeyboardInterrupt into
    `Abort` after printing a bare newline); async commands replace this with a
    trio signal receiver for the duration of the run."""
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

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    _, middle, old = gc.get_threshold()
    gc.set_threshold(STARTUP_YOUNG_THRESHOLD, middle, old)
    env = env or Environment()
    try:
        code = run(argv, env)
    except BaseException as exc:  # noqa: BLE001 - a second signal while the first was reported
        from wsctl.core.errors import Interrupted

        if not isinstance(exc, (Interrupted, KeyboardInterrupt)):
            raise
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        if env.json or _asks_for_json(argv):
            name = "terminated" if code == 143 else "interrupted"
            env.stderr.write(f'{{"error": "{name}", "message": "{name}", "exit_code": {int(code)}}}\n')
    # the command is over: a late Ctrl-C must not turn its exit into a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    sys.exit(code)


def run(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """The command's exit code; its errors are reported on ``env.stderr``.  Installs
    the SIGINT/SIGTERM handlers (`_interrupt`); SIGINT's is put back at the end."""
    env = env or Environment()
    previous = signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(argv, env)
    finally:
        signal.signal(signal.SIGINT, previous)


def _helps(argv: list[str] | None) -> bool:
    """`-h`, `--help` or `--version` before `--`: a broken config file must not hide the help."""
    args = sys.argv[1:] if argv is None else argv
    args = args[: args.index("--")] if "--" in args else args
    return any(arg in ("-h", "--help", "--version") for arg in args)


def _load_config(argv: list[str] | None, env: Environment) -> dict:
    """The config files' defaults; under --help/--version a broken file is a warning."""
    from wsctl.cli.support.config import load_config
    from wsctl.core.errors import InvalidInput

    try:
        default_map, env.config_trace = load_config(env, cli)
    except InvalidInput as exc:
        if not _helps(argv):
            raise
        env.json = env.json or _asks_for_json(argv)
        env.warn(f"{exc.message} (ignored for the help; fix it before running a command)")
        return {}
    # `json = true` in a file: errors found before the group's callback runs
    # (an unknown verb) are JSON too
    env.json = env.json or bool(default_map.get("json_output"))
    return default_map


def _run(argv: list[str] | None, env: Environment) -> int:
    stdout = sys.stdout
    # every import inside the `try`: a Ctrl-C while one loads is reported as well
    try:
        from wsctl.cli.support import logs

        logs.install(env)
        default_map = _load_config(argv, env)
        rv = cli.main(args=argv, prog_name="wsctl", standalone_mode=False, obj=env, default_map=default_map)
    except click.exceptions.Abort as exc:
        return _aborted(exc, env, as_json=env.json or _asks_for_json(argv))
    except click.ClickException as exc:
        return _click_error(exc, env, as_json=env.json or _asks_for_json(argv))
    except BaseException as exc:  # noqa: BLE001 - the one place that maps everything
        if isinstance(exc, SystemExit):
            if sys.stdout is not stdout and (env.json or _asks_for_json(argv)):
                # click's answer to EPIPE: stdout swapped for a quiet wrapper, then exit 1 with
                # nothing said; under --json the end of a command is still its error line
                exc = BrokenPipeError()
            else:
                return int(exc.code or 0) if not isinstance(exc.code, str) else 1
        from wsctl.cli.support.errors import report

        return report(exc, env.stderr, as_json=env.json or _asks_for_json(argv))
    return int(rv) if isinstance(rv, int) else 0


def _click_error(exc: click.ClickException, env: Environment, *, as_json: bool) -> int:
    from wsctl.core.exit_table import ExitCode

    code = ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    if as_json:
        import json

        from wsctl.cli.support.errors import error_object

        env.stderr.write(json.dumps(error_object(ExitCode(code), None, exc.format_message())) + "\n")
    else:
        exc.show(file=env.stderr)
    return code


def _aborted(exc: click.exceptions.Abort, env: Environment, *, as_json: bool) -> int:
    """click's `Abort`: a question whose input ended (EOF; a signal is `Interrupted`
    now) is a confirmation not given, exit 9; anything else, an interruption."""
    from wsctl.cli.support.errors import report
    from wsctl.core.errors import Interrupted, NotAuthorized

    if isinstance(exc.__context__, EOFError):
        return report(
            NotAuthorized("input ended before the question was answered; nothing was done"), env.stderr, as_json=as_json
        )
    if not as_json and exc.__cause__ is None:
        env.stderr.write("\n")  # click's own Abort (`raise Abort() from e`) already ended the line
    return report(Interrupted(signal.SIGINT), env.stderr, as_json=as_json)
