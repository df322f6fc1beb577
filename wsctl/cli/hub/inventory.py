"""`wsctl hub inventory`: the hub's devices as an inventory file, so every
client verb — and a fleet — reaches them by name through the hub:
``wsctl send depot-a reset type=Soft --inventory hub.toml`` fans out to the group's
devices, one line each."""

from __future__ import annotations

import json

import click

from wsctl.cli.hub.common import opened_registry
from wsctl.cli.support.env import Environment
from wsctl.cli.support.hub_registry import registry_option
from wsctl.core.errors import UsageError


def _string(text: str) -> str:
    # a TOML basic string: JSON's escapes are TOML's for everything a registry holds
    return json.dumps(text, ensure_ascii=False)


def render_inventory(records: list, base_url: str, *, certs: str | None, operator: str | None) -> str:
    base = base_url.rstrip("/")
    lines = ["# written by `wsctl hub inventory`: the hub's devices, reached through the hub", ""]
    defaults = [f"{key} = {_string(value)}" for key, value in (("certs", certs), ("operator", operator)) if value]
    if defaults:
        lines += ["[defaults]", *defaults, ""]
    groups: dict[str, list[str]] = {}
    for record in records:
        lines += [
            f"[devices.{_string(record.id)}]",
            f"url = {_string(f'{base}/devices/{record.id}')}",
            f"profile = {_string(record.profile)}",
            "",
        ]
        for group in record.groups:
            groups.setdefault(group, []).append(record.id)
    if groups:
        lines.append("[groups]")
        lines += [f"{_string(g)} = [{', '.join(_string(i) for i in ids)}]" for g, ids in sorted(groups.items())]
        lines.append("")
    return "\n".join(lines)


@click.command("inventory")
@click.option("--url", "base_url", required=True, metavar="wss://HOST:PORT", help="Where operators reach the hub.")
@click.option("--group", "group_name", metavar="GROUP", help="Only the devices of GROUP.")
@click.option("--certs", help="Write `certs = DIR` into [defaults] (the operators' PKI store).")
@click.option("--operator", help="Write `operator = NAME` into [defaults].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@registry_option
@click.pass_context
def inventory(ctx: click.Context, base_url: str, group_name: str | None, certs, operator, output) -> None:
    """Write the registry's devices and groups as an inventory (TOML).

    Each device gets the URL operators use through the hub
    (URL/devices/ID) and its profile; registry groups become inventory groups.

    \b
    EXAMPLES
      wsctl hub inventory --url wss://hub.plant:8443 --certs certs --operator alice -o hub.toml
      wsctl send depot-a reset type=Soft --inventory hub.toml --yes       # one line per charger
      wsctl watch CP-17 --inventory hub.toml
    """
    env: Environment = ctx.obj
    if not base_url.startswith("wss://"):
        raise UsageError(f"--url {base_url!r}: operators reach a hub over wss://HOST:PORT")
    with opened_registry(ctx) as registry:
        records = registry.devices(group=group_name)
    text = render_inventory(records, base_url, certs=certs, operator=operator)
    if output:
        from wsctl.cli.support.output_file import write_output

        write_output(output, text.encode("utf-8"))
        env.info(f"wrote {len(records)} device(s) to {output}")
    else:
        env.stdout.write(text)
