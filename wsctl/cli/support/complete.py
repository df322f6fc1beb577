"""Shell completion of names (bash, zsh, fish through click's protocol).

Verbs and options complete by themselves; this adds what only wsctl knows:
certificate names in the store (`certs show al<Tab>`), profile names
(`--profile c<Tab>`), inventory aliases and groups (`send <Tab>`), and a
profile's commands and `param=` names after a target whose profile is known
(`send belt-1 st<Tab>`), and the hub registry's device ids (`hub devices block CP<Tab>`).  `attach` wires them to the parameters by name, in
one place, when a verb is loaded (`config.prepare`).

A completion must never fail the shell: every function returns [] on any error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _quietly(fn: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def wrapper(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        try:
            return [item for item in fn(ctx, incomplete) if item.startswith(incomplete)]
        except Exception:  # noqa: BLE001 - a broken inventory must not break the shell
            return []

    return wrapper


def _root_params(ctx: click.Context) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    while ctx is not None:
        merged = {**ctx.params, **merged}
        ctx = ctx.parent  # type: ignore[assignment]
    return merged


def _store(ctx: click.Context) -> Path | None:
    from wsctl.cli.support.store_files import default_store

    params = _root_params(ctx)
    named = params.get("store_dir") or params.get("certs")
    return Path(named) if named else default_store(dict(os.environ))


def certificate_names(ctx: click.Context, incomplete: str) -> list[str]:
    from wsctl.cli.support.store_files import names_in

    store = _store(ctx)
    return [] if store is None else sorted({*names_in(store, "devices"), *names_in(store, "operators")})


#: what the console adds to a profile's commands (`wsctl connect`)
CONSOLE_COMMANDS = ["/help", "/quit", "/binary", "/ping", "/close", "/raw", "/mute", "/filter"]


def completions(profile, text: str) -> list[str]:
    """What Tab offers for the text before the cursor: console commands and
    profile commands first, then `param=` names, then enum values."""
    words = text.split(" ")
    if len(words) == 1:
        options = CONSOLE_COMMANDS + (list(profile.commands) if profile is not None else [])
        return [o for o in options if o.startswith(words[0])]
    if words[0] == "/help" and profile is not None and len(words) == 2:
        return [k for k in profile.commands if k.startswith(words[1])]
    command = profile.command(words[0]) if profile is not None else None
    if command is None:
        return []
    current = words[-1]
    used = {w.split("=", 1)[0] for w in words[1:-1]}
    if "=" in current:
        name, _, value = current.partition("=")
        param = command.param(name)
        values = (
            [str(v) for v in param.enum]
            if param is not None and param.enum
            else (["true", "false"] if param is not None and param.type == "boolean" else [])
        )
        return [f"{name}={v}" for v in values if v.startswith(value)]
    return [f"{p.name}=" for p in command.params if p.name not in used and p.name.startswith(current)]


def profile_names(ctx: click.Context, incomplete: str) -> list[str]:
    from wsctl.files.profiles import list_profiles

    return sorted({location.name for location in list_profiles(environ=dict(os.environ))})


def hub_device_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """Ids in the hub registry --registry names; nothing when there is none (never created here)."""
    from wsctl.cli.support.hub_registry import registry_path
    from wsctl.registry import Registry

    with Registry.open(registry_path(ctx), create=False) as registry:
        return registry.device_ids()


def _inventory(ctx: click.Context) -> Any:
    from wsctl.cli.support.client_options import load_inventory
    from wsctl.cli.support.env import Environment

    return load_inventory(Environment(), _root_params(ctx).get("inventory"))


def target_names(ctx: click.Context, incomplete: str) -> list[str]:
    inventory = _inventory(ctx)
    return sorted({*inventory.devices, *inventory.groups})


def _profile_of_target(ctx: click.Context) -> Any:
    from wsctl.files.profiles import load_profile

    params = _root_params(ctx)
    name = params.get("profile_name")
    if not name:
        target = params.get("target")
        entry = _inventory(ctx).devices.get(target) if target else None
        name = entry.profile if entry is not None else None
    return load_profile(name, environ=dict(os.environ)) if name else None


def profile_commands(ctx: click.Context, incomplete: str) -> list[str]:
    profile = _profile_of_target(ctx)
    return list(profile.commands) if profile is not None else []


def command_params(ctx: click.Context, incomplete: str) -> list[str]:
    params = _root_params(ctx)
    profile = _profile_of_target(ctx)
    if profile is None or not params.get("command"):
        return []
    text = " ".join([params["command"], *params.get("params", ()), incomplete])
    return completions(profile, text)


def attach(command: click.Command, path: tuple[str, ...]) -> None:
    """Give the verb's name-taking parameters their completion."""
    for param in command.params:
        fn: Callable[[click.Context, str], list[str]] | None = None
        if param.name == "profile_name" or (path[:1] == ("profile",) and param.name == "name"):
            fn = profile_names
        elif path[:1] == ("certs",) and isinstance(param, click.Argument) and param.name in ("target", "name"):
            fn = certificate_names
        elif isinstance(param, click.Argument) and param.name in ("target", "targets"):
            fn = target_names
        elif path[:1] == ("hub",) and param.name == "device_id" and path[-1:] != ("add",):
            fn = hub_device_ids
        elif path == ("send",) and param.name == "command":
            fn = profile_commands
        elif path == ("send",) and param.name == "params":
            fn = command_params
        if fn is not None:
            # click keeps the callback given as shell_complete= here; set after
            # construction so the verbs' decorators stay about the verb
            param._custom_shell_complete = _quietly(fn)
