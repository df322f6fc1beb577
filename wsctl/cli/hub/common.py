"""What the registry verbs share: `--registry FILE`, opening it, tables and times (click only)."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from wsctl.cli.errors import one_line

if TYPE_CHECKING:
    from wsctl.registry import Registry

REGISTRY_ENV = "WSCTL_HUB_REGISTRY"
DEFAULT_REGISTRY = "hub.db"
META_REGISTRY = "wsctl.hub.registry"
#: the most a --secret-file may hold; a secret is at most 256 characters
SECRET_FILE_LIMIT = 4096


def _set_registry(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # the group's --registry holds for its verbs unless a verb is given its own on the
    # command line; the environment variable only fills in what the command line left out
    if value is None or param.name is None:
        return
    from_command_line = ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE
    if from_command_line or META_REGISTRY not in ctx.meta:
        ctx.meta[META_REGISTRY] = (value, from_command_line)


def registry_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--registry FILE` on the group and on every verb, so it may stand on either side."""
    return click.option(
        "--registry",
        "registry_file",
        type=click.Path(dir_okay=False),
        envvar=REGISTRY_ENV,
        expose_value=False,
        callback=_set_registry,
        help=f"The hub's registry file [default: ./{DEFAULT_REGISTRY}; env {REGISTRY_ENV}].",
    )(fn)


def _hub_option(ctx: click.Context) -> str | None:
    """`wsctl hub --registry FILE devices ...`: the hub's own option, when given on the command line."""
    parent = ctx.parent
    while parent is not None:
        if parent.params.get("registry") and parent.get_parameter_source("registry") in (
            click.core.ParameterSource.COMMANDLINE,
        ):
            return str(parent.params["registry"])
        parent = parent.parent
    return None


def registry_path(ctx: click.Context) -> str:
    """The registry file: a --registry on the command line (a verb's, its group's or
    `wsctl hub`'s, nearest first), else WSCTL_HUB_REGISTRY or a config file, else ./hub.db."""
    value, from_command_line = ctx.meta.get(META_REGISTRY, (None, False))
    if from_command_line:
        return str(value)
    return _hub_option(ctx) or str(value or DEFAULT_REGISTRY)


@contextmanager
def opened_registry(ctx: click.Context, *, create: bool = False) -> Iterator[Registry]:
    """The registry named by --registry; a verb that only reads or changes never creates one."""
    from wsctl.registry import Registry

    registry = Registry.open(registry_path(ctx), create=create)
    try:
        yield registry
    finally:
        registry.close()


def local_actor() -> str:
    """Who a registry change made on this machine is audited as."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


def audit_change(registry: Registry, *, device: str | None, action: str, params: dict[str, Any] | None = None) -> None:
    registry.audit(
        at=time.time(), actor=local_actor(), role=None, device=device, action=action, params=params, outcome="ok"
    )


def when(wall: float | None) -> str:
    """A registry time in a table: UTC to the second, or `-`."""
    return "-" if wall is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(wall))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; every cell made one printable line (devices name their own
    vendor and firmware: a terminal escape in them must not reach the terminal)."""
    cells = [[one_line("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]
    return "\n".join(lines)


def read_secret_file(path: str) -> str:
    """The secret in FILE (one trailing newline dropped, as editors and `echo` add one)."""
    from wsctl.core.errors import InvalidInput
    from wsctl.core.files import decode_utf8, read_regular

    text = decode_utf8(read_regular(path, limit=SECRET_FILE_LIMIT, what="secret file"), path)
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    if not text:
        raise InvalidInput(f"{path}: the secret file is empty")
    return text


def secret_file_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--secret-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Set the secret in FILE (at least 16 characters) instead of generating one; it is never printed.",
    )(fn)
