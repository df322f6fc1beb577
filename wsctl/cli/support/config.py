"""Option defaults from configuration files and the environment.

Precedence, lowest first: a built-in default, `$XDG_CONFIG_HOME/wsctl/config.toml`
(the user's), `./wsctl.toml` (the project's), the file in `$WSCTL_CONFIG`, an
environment variable `WSCTL_<VERB>_<OPTION>` (`WSCTL_SEND_TIMEOUT=5`,
`WSCTL_CERTS_ISSUE_DEVICE_DAYS=90`), the command line.  A file has one table per verb,
nested for sub-verbs, keys named like the options:

    json = true                  # global options at the top
    [send]
    timeout = 5
    parallel = 32
    [certs]
    dir = "/srv/plant/pki"
    [certs.issue.device]
    days = 90

Unknown verbs and options are errors (a typo must not silently do nothing).
Options that weaken safety — `yes`, `insecure`, `trust_new`, `tofu`, `allow_plaintext`,
`no_password`, `force`, `i-know-this-replaces-the-ca` — are taken from the command line only, never from a
file or the environment.  `-v` shows where each default came from.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput

ENV_PREFIX = "WSCTL"
#: a config file or a stray environment variable must never do these
COMMAND_LINE_ONLY = frozenset(
    {"yes", "insecure", "trust_new", "tofu", "allow_plaintext", "no_password", "force", "replace_unproven"}
)


def config_paths(env: Environment) -> list[Path]:
    from wsctl.core.xdg import config_dir

    home = Path(os.path.expanduser(config_dir(env.environ, windows=os.name == "nt")))
    paths = [home / "config.toml", Path("wsctl.toml")]
    if env.environ.get("WSCTL_CONFIG"):
        paths.append(Path(env.environ["WSCTL_CONFIG"]))
    return paths


def _merge(into: dict, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def load_config(env: Environment, group: click.Group) -> tuple[dict[str, Any], list[str]]:
    """(click default_map, lines saying where each default came from)."""
    merged: dict[str, Any] = {}
    trace: list[str] = []
    for index, path in enumerate(config_paths(env)):
        explicit = index == 2
        if not path.is_file():
            if explicit:
                raise InvalidInput(f"WSCTL_CONFIG names {path}, which is not a file")
            continue
        from wsctl.core.toml_text import parse_toml  # only when there is a file: start-up stays light without one

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read config {path}: {exc}") from None
        data = parse_toml(raw, f"config {path}")
        data = _check(group, data, str(path), (), trace)
        _merge(merged, data)
    return merged, trace


def _check(
    command: click.Command,
    data: dict,
    source: str,
    where: tuple[str, ...],
    trace: list[str],
    parent: click.Context | None = None,
) -> dict:
    """The table with option keys normalised (`ping-interval` -> `ping_interval`), or InvalidInput."""
    # the contexts chain as on the command line, so a verb loaded here is prepared with
    # its full path (`certs issue device` gets WSCTL_CERTS_ISSUE_DEVICE_*, not WSCTL_ISSUE_*)
    ctx = click.Context(command, parent=parent, info_name=where[-1] if where else "wsctl")
    # a file names options as the command line does (`dir`, `ping-interval`);
    # click's default_map wants the parameter names behind them (`store_dir`)
    params: dict[str, str] = {}
    options: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_eager or not param.name:
            continue
        options[param.name] = param
        for opt in param.opts:
            if opt.startswith("--"):
                params[opt[2:].replace("-", "_")] = param.name
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = ".".join((*where, key))
        sub = command.get_command(ctx, key) if isinstance(command, click.Group) else None
        if sub is not None:
            if not isinstance(value, dict):
                raise InvalidInput(f"config {source}: [{dotted}] must be a table of its options")
            out[key] = _check(sub, value, source, (*where, key), trace, ctx)
            continue
        option = key.replace("-", "_")
        if option not in params:
            known = sorted(n.replace("_", "-") for n in params if params[n] not in COMMAND_LINE_ONLY)
            verb = " ".join(where)
            raise InvalidInput(
                f"config {source}: {dotted}: no such option of `wsctl{' ' + verb if verb else ''}`",
                hint=f"options: {', '.join(known) or 'none'}",
            )
        if params[option] in COMMAND_LINE_ONLY:
            raise InvalidInput(f"config {source}: {dotted}: only on the command line (it weakens a safety check)")
        _check_value(options[params[option]], value, ctx, f"config {source}: {dotted}")
        out[params[option]] = value
        trace.append(f"config {source}: {dotted} = {value!r}")
    return out


def _check_value(param: click.Option, value: Any, ctx: click.Context, where: str) -> None:
    """The value converts as the option's own type would (each item for a
    repeatable option), else InvalidInput naming the file and key: click would
    convert it only later, as "internal error" or a usage error that names no file."""
    many = param.multiple or param.nargs != 1
    if many and not isinstance(value, list):
        raise InvalidInput(f"{where}: expected a list (the option is repeatable), got {_toml_kind(value)}")
    for item in value if many else [value]:
        if isinstance(item, (list, dict)):
            raise InvalidInput(f"{where}: expected a single value, got {_toml_kind(item)}")
        if isinstance(param.type, (click.Path, click.File)):
            if not isinstance(item, str):  # existence is checked when the verb runs, not for every verb
                raise InvalidInput(f"{where}: expected a path (a string), got {_toml_kind(item)}")
            continue
        if param.is_flag and not isinstance(item, bool):
            raise InvalidInput(f"{where}: expected true or false, got {item!r}")
        try:
            converted = param.type.convert(item, param, ctx)
        except click.BadParameter as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise InvalidInput(f"{where}: not a value for --{param.name}: {exc}") from None
        if isinstance(converted, float) and not math.isfinite(converted):
            raise InvalidInput(f"{where}: expected a finite number, got {item!r}")


def _toml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    return "a table" if isinstance(value, dict) else type(value).__name__


class Seconds(click.FloatRange):
    """A number of seconds on the command line: finite (click's FloatRange takes
    ``inf`` and ``nan``, and a wait of either never ends or fails inside trio)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


def prepare(command: click.Command, path: tuple[str, ...]) -> click.Command:
    """Give every option of a verb (and its sub-verbs) its environment variable,
    named after the option as typed (`WSCTL_CERTS_DIR` for `wsctl certs --dir`,
    not click's parameter name `store_dir`), and keep safety-weakening options
    out of the environment altogether."""
    if getattr(command, "_wsctl_prepared", False):
        return command
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_eager:
            continue
        if param.name in COMMAND_LINE_ONLY:
            param.envvar = None
            param.allow_from_autoenv = False
            continue
        if param.envvar is None:
            long = next((o[2:] for o in param.opts if o.startswith("--")), None)
            if long:
                param.envvar = "_".join((ENV_PREFIX, *path, long)).upper().replace("-", "_")
    command.params.extend(_global_flags())
    from wsctl.cli.support.complete import attach

    attach(command, path)
    if isinstance(command, click.Group):
        for name, sub in getattr(command, "commands", {}).items():
            prepare(sub, (*path, name))
    command._wsctl_prepared = True  # type: ignore[attr-defined]
    return command


def _global_flags() -> list[click.Option]:
    """`--json`, `-v` and `-q` accepted after the verb too (`wsctl send ... --json`).

    Scripts append them where they like; each verb gets hidden copies of the
    top-level flags that set the same `Environment` fields.  Eager, so a usage
    error later in the same command line is already reported as JSON.
    """

    def on_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.ensure_object(Environment).json = True

    from wsctl.cli.support import logs

    def on_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
        if value:
            env = ctx.ensure_object(Environment)
            env.verbosity = max(env.verbosity, 0) + value
            logs.apply(env)

    def on_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            env = ctx.ensure_object(Environment)
            env.verbosity = -1
            logs.apply(env)

    common: dict[str, Any] = {"expose_value": False, "hidden": True, "is_eager": True, "allow_from_autoenv": False}
    return [
        click.Option(["--json"], is_flag=True, callback=on_json, **common),
        click.Option(["-v", "--verbose"], count=True, callback=on_verbose, **common),
        click.Option(["-q", "--quiet"], is_flag=True, callback=on_quiet, **common),
    ]


def environment_trace(env: Environment) -> list[str]:
    """Which WSCTL_* variables are set (names only: some hold passphrases)."""
    return [f"environment: {name} is set" for name in sorted(env.environ) if name.startswith(ENV_PREFIX + "_")]
