"""`wsctl hub audit`: who did what to which device through the hub, and with what outcome."""

from __future__ import annotations

import click

from wsctl.cli.hub.common import opened_registry, table, when
from wsctl.cli.support.env import Environment
from wsctl.cli.support.hub_registry import registry_option, registry_path

EPILOG = """\b
EXAMPLES
  wsctl hub audit                                   # the last 100 entries
  wsctl hub audit --device CP-17 --limit 20
  wsctl --json hub audit --operator alice | jq -c 'select(.outcome != "ok")'
"""


def _params_text(params: dict | None) -> str:
    import json

    return "-" if not params else json.dumps(params, ensure_ascii=False, separators=(",", ":"))


@click.command("audit", epilog=EPILOG)
@click.option("--device", "device_id", metavar="ID", default=None, help="Only entries about device ID.")
@click.option("--operator", "operator", metavar="NAME", default=None, help="Only entries by NAME.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True, help="The last N entries.")
@registry_option
@click.pass_context
def audit(ctx: click.Context, device_id: str | None, operator: str | None, limit: int) -> None:
    """Show the hub's audit log, oldest of the last N first: time, who, role, device, action, outcome.

    Operators' commands through the hub and changes made with `wsctl hub devices`
    and `wsctl hub id-tags` are there; the log is append-only. With --json, one
    object per entry (at, actor, role, device, action, params, outcome, detail).
    """
    from wsctl.registry.records import iso

    env: Environment = ctx.obj
    with opened_registry(ctx) as registry:
        entries = registry.audit_log(device=device_id, actor=operator, limit=limit)
    if env.json:
        for entry in entries:
            env.emit({**entry, "at": iso(entry["at"])})
        return
    if not entries:
        env.info(f"no audit entries in {registry_path(ctx)}")
        return
    rows = [
        (
            when(e["at"]),
            e["actor"],
            e["role"],
            e["device"],
            e["action"],
            _params_text(e["params"]),
            e["outcome"] + (f": {e['detail']}" if e["detail"] else ""),
        )
        for e in entries
    ]
    env.emit({}, table(("TIME", "ACTOR", "ROLE", "DEVICE", "ACTION", "PARAMS", "OUTCOME"), rows))
