"""`wsctl certs list`: what the store has issued, soonest end first."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import crl_freshness, entry_record, get_store, store_dir_option
from wsctl.cli.support.env import Environment


def lifetime_days(entry) -> int | None:
    """The certificate's whole validity in days, as issued (the 5-minute backdate rounds away)."""
    import datetime as dt

    if entry.not_before is None:
        return None
    return round((entry.not_after - entry.not_before) / dt.timedelta(days=1))


def _expiring(entry, status: str, days_left_at, window: int, short_lived: bool) -> bool:
    """Whether `--expiring WINDOW` reports the entry.

    A certificate whose whole lifetime fits in the window (operators' 30-day
    default, a CI job's day) is in it from the moment it is issued: it is
    renewed as a routine, not found by this check, unless --include-short-lived.
    """
    if status not in ("valid", "expired") or days_left_at > window:
        return False
    lifetime = lifetime_days(entry)
    return short_lived or lifetime is None or lifetime > window


@click.command("list")
@click.option(
    "--expiring",
    type=click.IntRange(0, None),
    metavar="DAYS",
    default=None,
    help="Only valid certificates that end within DAYS (expired ones included), leaving out "
    "short-lived ones whose whole lifetime is DAYS or less.",
)
@click.option(
    "--include-short-lived",
    "short_lived",
    is_flag=True,
    help="With --expiring: also certificates whose whole lifetime fits in DAYS.",
)
@click.option("--all", "show_all", is_flag=True, help="Include certificates replaced by a renewal.")
@click.option("--kind", type=click.Choice(["device", "operator"]), default=None, help="Only this kind.")
@store_dir_option
@click.pass_context
def list_(ctx: click.Context, expiring: int | None, short_lived: bool, show_all: bool, kind: str | None) -> None:
    """List issued certificates, soonest end first: name, kind, role, status, days left, expiry, serial.

    Status is valid, expired, revoked or superseded (renewed). With --json,
    one object per certificate; serials are hex strings; `paths` are null
    for a certificate whose files a re-issue of its name replaced. The CRL's
    next update is shown too (JSON: crl_next_update, crl_status), with a
    warning when it is less than a day away or past.

    For cron, `wsctl -q certs list --expiring 30` prints nothing unless a
    certificate needs renewing (or the CRL a re-issue): short-lived
    certificates, operators' 30-day default among them, are left out.

    \b
    EXAMPLES
      wsctl certs list
      wsctl certs list --expiring 30            # what to renew this month
      wsctl -q certs list --expiring 30 --kind device   # cron: silent unless there is work
      wsctl --json certs list | jq -r 'select(.status=="revoked") | .name'
    """
    import datetime as dt

    env: Environment = ctx.obj
    store = get_store(ctx)
    now = dt.datetime.now(dt.UTC)
    entries = store.entries()
    # only the newest certificate of a kind and name has files: a re-issue or renewal overwrote the others'
    holds_files = {(e.kind, e.name): e for e in entries}
    rows = []
    for entry in entries:
        if (entry.status == "superseded" and not show_all) or (kind and entry.kind != kind):
            continue
        status, days_left = entry.effective_status(now), (entry.not_after - now).days
        if expiring is not None and not _expiring(entry, status, days_left, expiring, short_lived):
            continue
        rows.append((entry, status, days_left))
    rows.sort(key=lambda row: row[0].not_after)
    crl = crl_freshness(env, store, now)
    if env.json:
        for entry, status, days_left in rows:
            obj = entry_record(entry)
            if holds_files[(entry.kind, entry.name)] is not entry:
                obj["paths"] = {"cert": None, "chain": None, "key": None}
            obj.update(
                status=status,
                days_left=days_left,
                lifetime_days=lifetime_days(entry),
                crl_next_update=crl["crl_next_update"],
                crl_status=crl["crl_status"],
            )
            env.emit(obj)
        return
    if not rows:
        env.info(
            "no certificates"
            + (f" expiring within {expiring} days" if expiring is not None else "")
            + f"; CRL: {crl['crl_text']}"
        )
        return
    lines = [f"{'NAME':<20} {'KIND':<8} {'ROLE':<15} {'STATUS':<10} {'DAYS LEFT':>9}  {'NOT AFTER':<17} SERIAL"]
    for entry, status, days_left in rows:
        lines.append(
            f"{entry.name:<20} {entry.kind:<8} {entry.role or '-':<15} {status:<10} {days_left:>9}  "
            f"{entry.not_after:%Y-%m-%d %H:%M} {entry.serial:x}"
        )
    lines.append(f"CRL: {crl['crl_text']}")
    env.emit({}, "\n".join(lines))
