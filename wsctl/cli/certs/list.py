"""`wsctl certs list`: what the store has issued."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import crl_freshness, entry_record, get_store, store_dir_option
from wsctl.cli.env import Environment


@click.command("list")
@click.option(
    "--expiring",
    type=click.IntRange(0, None),
    metavar="DAYS",
    default=None,
    help="Only valid certificates that expire within DAYS (already expired ones included).",
)
@click.option("--all", "show_all", is_flag=True, help="Include certificates replaced by a renewal.")
@click.option("--kind", type=click.Choice(["device", "operator"]), default=None, help="Only this kind.")
@store_dir_option
@click.pass_context
def list_(ctx: click.Context, expiring: int | None, show_all: bool, kind: str | None) -> None:
    """List issued certificates: name, kind, role, status, expiry, serial.

    Status is valid, expired, revoked or superseded (renewed). With --json,
    one object per certificate; serials are hex strings. The CRL's next update
    is shown too (JSON: crl_next_update, crl_status), with a warning when it
    is less than a day away or past.

    \b
    EXAMPLES
      wsctl certs list
      wsctl certs list --expiring 30            # what to renew this month
      wsctl --json certs list | jq -r 'select(.status=="revoked") | .name'
    """
    import datetime as dt

    env: Environment = ctx.obj
    store = get_store(ctx)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for entry in store.entries():
        if entry.status == "superseded" and not show_all:
            continue
        if kind and entry.kind != kind:
            continue
        status = entry.effective_status(now)
        if expiring is not None and (
            status not in ("valid", "expired") or entry.not_after > now + dt.timedelta(days=expiring)
        ):
            continue
        rows.append((entry, status))
    crl = crl_freshness(env, store, now)
    if env.json:
        for entry, status in rows:
            obj = entry_record(entry)
            obj["status"] = status
            obj["days_left"] = (entry.not_after - now).days
            obj["crl_next_update"], obj["crl_status"] = crl["crl_next_update"], crl["crl_status"]
            env.emit(obj)
        return
    if not rows:
        env.info(
            "no certificates"
            + (f" expiring within {expiring} days" if expiring is not None else "")
            + f"; CRL: {crl['crl_text']}"
        )
        return
    header = f"{'NAME':<20} {'KIND':<8} {'ROLE':<15} {'STATUS':<10} {'NOT AFTER':<17} SERIAL"
    lines = [header]
    for entry, status in rows:
        lines.append(
            f"{entry.name:<20} {entry.kind:<8} {entry.role or '-':<15} {status:<10} "
            f"{entry.not_after:%Y-%m-%d %H:%M} {entry.serial:x}"
        )
    lines.append(f"CRL: {crl['crl_text']}")
    env.emit({}, "\n".join(lines))
