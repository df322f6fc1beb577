"""`wsctl hub devices`: the devices the hub admits, in its registry.

Without a verb (or with `list`) a table, or JSON Lines; `add`, `approve`,
`block`, `remove` and `secret` change the registry, each in one short
transaction, so they work while the hub runs.  A device's secret is printed
once, when it is made, and never again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from wsctl.cli.hub.common import (
    audit_change,
    examples,
    opened_registry,
    read_secret_file,
    secret_file_option,
    table,
    when,
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.hub_registry import registry_option, registry_path

EPILOG = """\b
EXAMPLES
  wsctl hub devices add CP-17 --profile ocpp16            # mTLS (security profile 3)
  wsctl hub devices add CP-18 --profile ocpp16 --security-profile 2 --group depot-a
  wsctl hub devices add CP-19 --profile ocpp16 --security-profile 2 --secret-file cp19.secret
  wsctl hub devices                                     # the table
  wsctl --json hub devices --group depot-a | jq -r 'select(.online | not) | .id'
  wsctl hub devices --pending                           # dialed in, waiting for approval
  wsctl hub devices approve CP-20
  wsctl hub devices secret CP-18                        # rotate: the new secret is shown once
  WSCTL_HUB_REGISTRY=/srv/hub/hub.db wsctl hub devices
"""

SECRET_NOTE = "this secret is shown once and will not be shown again (the registry keeps only its hash)"


def _list_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--pending", is_flag=True, help="Only devices waiting for approval.")(fn)
    return click.option("--group", "group_name", metavar="GROUP", default=None, help="Only devices in GROUP.")(fn)


def _show(env: Environment, ctx: click.Context, group_name: str | None, pending: bool) -> None:
    now = time.time()
    with opened_registry(ctx) as registry:
        records = registry.devices(group=group_name, status="pending" if pending else None)
    if env.json:
        for record in records:
            env.emit(record.as_dict(now=now))
        return
    if not records:
        which = " pending" if pending else ""
        env.info(f"no{which} devices" + (f" in group {group_name}" if group_name else "") + f" in {registry_path(ctx)}")
        return
    headers = ("ID", "STATUS", "STATE", "SINCE", "PROFILE", "SP", "FIRMWARE", "CERT DAYS", "QUEUED", "LAST SEEN")
    rows = [
        (
            r.id,
            r.status,
            "online" if r.online else "offline",
            when(r.since),
            r.profile,
            r.security_profile,
            r.firmware,
            r.cert_days_left(now),
            r.queued,
            when(r.last_seen),
        )
        for r in records
    ]
    env.emit({}, table(headers, rows))


@click.group("devices", invoke_without_command=True, epilog=EPILOG)
@_list_options
@registry_option
@click.pass_context
def devices(ctx: click.Context, group_name: str | None, pending: bool) -> None:
    """The devices the hub admits: list them (the default), add, approve, block, remove, rotate secrets.

    The table shows each device's status (approved, pending, blocked), whether
    it is online and since when, its profile and security profile (SP), the
    firmware from its last boot, the days left on its certificate, its queued
    commands and when it was last seen. With --json, one object per device
    (docs/hub.md lists the keys). See docs/hub.md.
    """
    if ctx.invoked_subcommand is None:
        _show(ctx.obj, ctx, group_name, pending)


@devices.command(
    "list",
    epilog=examples(
        "wsctl hub devices list --group depot-a",
        "wsctl hub devices list --pending",
        "wsctl --json hub devices list | jq -r 'select(.online | not) | .id'",
    ),
)
@_list_options
@registry_option
@click.pass_context
def list_(ctx: click.Context, group_name: str | None, pending: bool) -> None:
    """List the devices: id, status, online since, profile, firmware, cert days left, queued."""
    _show(ctx.obj, ctx, group_name, pending)


def _warn_unknown_profile(env: Environment, profile: str) -> None:
    from wsctl.core.errors import WsctlError
    from wsctl.files.profiles import find_profile

    try:
        find_profile(profile, environ=env.environ)
    except WsctlError as exc:
        env.warn(f"{exc.message}; the hub needs it to serve this device")


def _emit_secret(env: Environment, device_id: str, secret: str | None, obj: dict[str, Any], human: str) -> None:
    """The result line, with the secret (printed here and nowhere else) when one was generated."""
    if env.json:
        env.emit({"id": device_id, "secret": secret, **obj})
        return
    lines = [human]
    if secret is not None:
        lines += [f"secret: {secret}", SECRET_NOTE]
    env.emit({}, "\n".join(lines))


@devices.command(
    "add",
    epilog=examples(
        "wsctl hub devices add CP-17 --profile ocpp16            # mTLS: its certificate names CP-17",
        "wsctl hub devices add CP-18 --profile ocpp16 --security-profile 2 --group depot-a",
        "wsctl hub devices add CP-19 --profile ocpp201 --pending",
    ),
)
@click.argument("device_id", metavar="ID")
@click.option("--profile", "profile", required=True, metavar="PROFILE", help="The device's profile (its protocol).")
@click.option(
    "--security-profile",
    type=click.Choice(["1", "2", "3"]),
    default="3",
    show_default=True,
    help="3: mutual TLS (its certificate names ID); 2: TLS + HTTP Basic with a secret; 1: plain ws + Basic.",
)
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="Put it in GROUP (repeatable).")
@click.option(
    "--pending",
    is_flag=True,
    help="Add it as pending: it may connect, but its boot is answered Pending and no command reaches it until approved.",
)
@secret_file_option
@registry_option
@click.pass_context
def add(
    ctx: click.Context,
    device_id: str,
    profile: str,
    security_profile: str,
    groups: tuple[str, ...],
    pending: bool,
    secret_file: str | None,
) -> None:
    """Add device ID (creating the registry if needed).

    Security profiles 1 and 2 log in with a secret: one is generated and
    printed once (with --json: {"id": ..., "secret": ...}), unless
    --secret-file gives it. Only its scrypt hash is kept.
    """
    env: Environment = ctx.obj
    level = int(security_profile)
    given = read_secret_file(secret_file) if secret_file else None
    if level == 1:
        env.warn("security profile 1 sends the secret over plain ws, readable by anyone on the network")
    _warn_unknown_profile(env, profile)
    status = "pending" if pending else "approved"
    with opened_registry(ctx, create=True) as registry:
        secret = registry.add_device(
            device_id, profile=profile, security_profile=level, groups=groups, status=status, secret=given
        )
        audit_change(
            registry,
            device=device_id,
            action="devices add",
            params={"profile": profile, "security_profile": level, "groups": sorted(set(groups)), "status": status},
        )
        record = registry.device(device_id)
    assert record is not None
    described = f"profile {profile}, security profile {level}, {status}"
    if record.groups:
        described += f", groups {', '.join(record.groups)}"
    obj = {"action": "added", "status": status, "profile": profile, "security_profile": level}
    obj["groups"] = list(record.groups)
    _emit_secret(env, device_id, secret, obj, f"added {device_id} to {registry_path(ctx)}: {described}")


def _status_verb(name: str, status: str, summary: str, examples: str) -> click.Command:
    @click.argument("device_id", metavar="ID")
    @registry_option
    @click.pass_context
    def verb(ctx: click.Context, device_id: str) -> None:
        env: Environment = ctx.obj
        with opened_registry(ctx) as registry:
            registry.set_status(device_id, status)
            audit_change(registry, device=device_id, action=f"devices {name}")
            record = registry.device(device_id)
        assert record is not None
        if status == "approved" and record.security_profile in (1, 2) and not record.has_secret:
            env.warn(f"{device_id} has no secret yet: set one with 'wsctl hub devices secret {device_id}'")
        env.emit({"id": device_id, "action": status, "status": status}, f"{device_id} {status}")

    verb.__doc__ = summary
    return click.command(name, epilog=examples)(verb)


devices.add_command(
    _status_verb(
        "approve",
        "approved",
        "Approve device ID (pending or blocked): the hub admits it from now on.",
        examples(
            "wsctl hub devices --pending                           # who is waiting", "wsctl hub devices approve CP-20"
        ),
    )
)
devices.add_command(
    _status_verb(
        "block",
        "blocked",
        "Block device ID: the hub refuses it from its next connection on.",
        examples(
            "wsctl hub devices block CP-17", "wsctl hub devices approve CP-17                       # admitted again"
        ),
    )
)


@devices.command(
    "remove",
    epilog=examples(
        "wsctl hub devices remove CP-17", "WSCTL_HUB_REGISTRY=/srv/hub/hub.db wsctl hub devices remove CP-17"
    ),
)
@click.argument("device_id", metavar="ID")
@registry_option
@click.pass_context
def remove(ctx: click.Context, device_id: str) -> None:
    """Remove device ID with its groups, secret and queued commands (its audit entries stay)."""
    env: Environment = ctx.obj
    with opened_registry(ctx) as registry:
        registry.remove(device_id)
        audit_change(registry, device=device_id, action="devices remove")
    env.emit({"id": device_id, "action": "removed"}, f"removed {device_id} from {registry_path(ctx)}")


@devices.command(
    "secret",
    epilog=examples(
        "wsctl hub devices secret CP-18                        # a new one, shown once",
        "wsctl hub devices secret CP-18 --secret-file cp18.secret",
    ),
)
@click.argument("device_id", metavar="ID")
@secret_file_option
@registry_option
@click.pass_context
def secret(ctx: click.Context, device_id: str, secret_file: str | None) -> None:
    """Replace the secret of device ID (security profile 1 or 2): a new one is generated and
    printed once, unless --secret-file gives it. The old one stops working at once."""
    env: Environment = ctx.obj
    given = read_secret_file(secret_file) if secret_file else None
    with opened_registry(ctx) as registry:
        new = registry.set_secret(device_id, given)
        audit_change(registry, device=device_id, action="devices secret")
    shown = None if given is not None else new
    _emit_secret(env, device_id, shown, {"action": "secret_replaced"}, f"replaced the secret of {device_id}")
