"""`--registry FILE`: the hub registry the hub verbs (and shell completion of device ids) work on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

REGISTRY_ENV = "WSCTL_HUB_REGISTRY"
DEFAULT_REGISTRY = "hub.db"
META_REGISTRY = "wsctl.hub.registry"


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
