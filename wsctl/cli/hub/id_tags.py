"""`wsctl hub id-tags`: the allow-list the hub answers OCPP Authorize from."""

from __future__ import annotations

import time

import click

from wsctl.cli.hub.common import audit_change, examples, opened_registry, table, when
from wsctl.cli.support.env import Environment
from wsctl.cli.support.hub_registry import registry_option, registry_path

EPILOG = """\b
EXAMPLES
  wsctl hub id-tags add 04E91C2A                       # an RFID card, Accepted
  wsctl hub id-tags add VISITOR-7 --expires 2026-12-31T23:59:59Z
  wsctl hub id-tags add 04E91C2A --status Blocked      # a lost card
  wsctl hub id-tags                                    # the list
  wsctl hub id-tags remove VISITOR-7
"""


def parse_expiry(text: str) -> float:
    """An ISO 8601 time as wall-clock seconds; without a zone it is UTC."""
    import datetime as dt

    from wsctl.core.errors import InvalidInput

    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--expires {text!r}: not an ISO 8601 time (e.g. 2026-12-31T23:59:59Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _show(env: Environment, ctx: click.Context) -> None:
    from wsctl.registry.records import iso

    now = time.time()
    with opened_registry(ctx) as registry:
        tags = [(tag, registry.id_tag_status(tag["id_tag"], at=now)) for tag in registry.id_tags()]
    if env.json:
        for tag, status_now in tags:
            env.emit({**tag, "expires": iso(tag["expires"]), "status_now": status_now})
        return
    if not tags:
        env.info(f"no id tags in {registry_path(ctx)}")
        return
    rows = [(tag["id_tag"], tag["status"], when(tag["expires"]), status_now) for tag, status_now in tags]
    env.emit({}, table(("ID TAG", "STATUS", "EXPIRES", "NOW"), rows))


@click.group("id-tags", invoke_without_command=True, epilog=EPILOG)
@registry_option
@click.pass_context
def id_tags(ctx: click.Context) -> None:
    """The id tags (RFID cards, tokens) OCPP Authorize accepts: list them (the default), add, remove.

    An unknown tag is answered Invalid; an Accepted tag past its expiry, Expired.
    """
    if ctx.invoked_subcommand is None:
        _show(ctx.obj, ctx)


@id_tags.command(
    "list",
    epilog=examples(
        "wsctl hub id-tags list",
        "wsctl --json hub id-tags list | jq -r 'select(.status_now != \"Accepted\") | .id_tag'",
    ),
)
@registry_option
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the id tags: tag, status, expiry, and the status Authorize answers now."""
    _show(ctx.obj, ctx)


@id_tags.command(
    "add",
    epilog=examples(
        "wsctl hub id-tags add 04E91C2A                       # an RFID card, Accepted",
        "wsctl hub id-tags add VISITOR-7 --expires 2026-12-31T23:59:59Z",
        "wsctl hub id-tags add 04E91C2A --status Blocked      # a lost card",
    ),
)
@click.argument("id_tag", metavar="TAG")
@click.option(
    "--status",
    type=click.Choice(["Accepted", "Blocked", "Expired"]),
    default="Accepted",
    show_default=True,
    help="What Authorize answers for TAG.",
)
@click.option(
    "--expires", metavar="ISO", default=None, help="From this time on TAG is Expired (UTC unless a zone is given)."
)
@registry_option
@click.pass_context
def add(ctx: click.Context, id_tag: str, status: str, expires: str | None) -> None:
    """Add TAG, or change its status and expiry (creating the registry if needed)."""
    from wsctl.registry.records import iso

    env: Environment = ctx.obj
    expiry = parse_expiry(expires) if expires is not None else None
    with opened_registry(ctx, create=True) as registry:
        registry.add_id_tag(id_tag, status=status, expires=expiry)
        audit_change(registry, device=None, action="id-tags add", params={"id_tag": id_tag, "status": status})
    until = f" until {when(expiry)}" if expiry is not None else ""
    env.emit(
        {"id_tag": id_tag, "action": "added", "status": status, "expires": iso(expiry)},
        f"id tag {id_tag}: {status}{until}",
    )


@id_tags.command("remove", epilog=examples("wsctl hub id-tags remove VISITOR-7"))
@click.argument("id_tag", metavar="TAG")
@registry_option
@click.pass_context
def remove(ctx: click.Context, id_tag: str) -> None:
    """Remove TAG: Authorize answers Invalid for it from now on."""
    env: Environment = ctx.obj
    with opened_registry(ctx) as registry:
        registry.remove_id_tag(id_tag)
        audit_change(registry, device=None, action="id-tags remove", params={"id_tag": id_tag})
    env.emit({"id_tag": id_tag, "action": "removed"}, f"removed id tag {id_tag}")
