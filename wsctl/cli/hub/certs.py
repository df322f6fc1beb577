"""`wsctl hub certs renew`: have chargers renew their certificates through the
hub (OCPP SignCertificate / CertificateSigned), one line per charger;
`wsctl hub certs status`: where each renewal is, from the registry.

Each charger gets its renewal trigger through the hub like any operator
command (1.6: ExtendedTriggerMessage SignChargePointCertificate; 2.0.1:
TriggerMessage SignChargingStationCertificate), so the operator's role is
checked and audited by the hub.  The hub (run with --sign-certificates) does
the rest; with --wait this verb follows the outcome in the registry's audit
log (it runs next to the hub, on its registry)."""

from __future__ import annotations

import time
from typing import Any

import click

from wsctl.cli.hub.common import opened_registry, table, when
from wsctl.cli.support.client_options import ClientOptions, client_options, connect_kwargs, resolve_targets
from wsctl.cli.support.env import Environment
from wsctl.cli.support.hub_registry import registry_option, registry_path
from wsctl.core.errors import InvalidInput, UsageError

#: how often --wait looks at the audit log
POLL = 0.5


GROUP_EPILOG = """\b
EXAMPLES
  wsctl hub certs renew --expiring 30 --url wss://hub.plant:8443 --certs certs --operator sam
  wsctl hub certs status --open                 # renewals not finished yet
"""


@click.group("certs", epilog=GROUP_EPILOG)
def certs() -> None:
    """Certificates of the hub's chargers, renewed over OCPP."""


def _chosen(ctx: click.Context, ids: tuple[str, ...], group: str | None, expiring: int | None) -> list[Any]:
    with opened_registry(ctx) as registry:
        records = registry.devices(group=group)
    now = time.time()
    if ids:
        known = {r.id: r for r in records}
        missing = [i for i in ids if i not in known]
        if missing:
            raise InvalidInput(f"not in the registry{' group ' + group if group else ''}: {', '.join(missing)}")
        records = [known[i] for i in ids]
    if expiring is not None:
        records = [r for r in records if r.cert_not_after is not None and r.cert_not_after - now < expiring * 86400]
    return records


def _trigger(profile: Any) -> tuple[str, dict[str, Any]]:
    """The command (and parameters) that makes a charger of this profile send its CSR."""
    renew = profile.command("ExtendedTriggerMessage")
    if renew is not None:
        return renew.key, {"requested_message": "SignChargePointCertificate"}
    trigger = profile.command("TriggerMessage")
    if trigger is not None and "SignChargingStationCertificate" in (trigger.param("requested_message").enum or ()):
        return trigger.key, {"requested_message": "SignChargingStationCertificate"}
    raise InvalidInput(f"profile {profile.id} has no way to ask for a CSR (ExtendedTriggerMessage / TriggerMessage)")


async def _renew_one(env: Environment, base: str, record: Any, client: ClientOptions) -> dict[str, Any]:
    from wsctl.core.errors import WsctlError
    from wsctl.files.profiles import load_profile
    from wsctl.net.api import open_device

    url = f"{base.rstrip('/')}/devices/{record.id}"
    (entry,) = resolve_targets(env, url, client)
    try:
        profile = load_profile(record.profile)
        key, params = _trigger(profile)
        async with open_device(url, profile=profile, **connect_kwargs(env, entry, client)) as dev:
            reply = await dev.call(key, **params)
        return {"device": record.id, "ok": True, "triggered": reply.get("status") if isinstance(reply, dict) else reply}
    except WsctlError as exc:
        return {"device": record.id, "ok": False, "error": exc.kind, "message": exc.message}


def _outcome(ctx: click.Context, device_id: str, since: float) -> dict[str, Any] | None:
    with opened_registry(ctx) as registry:
        entries = registry.audit_log(device=device_id, limit=20)
    for entry in entries:
        if (
            entry["action"] in ("certificate-renewed", "sign-certificate", "certificate-signed")
            and entry["at"] >= since
        ):
            if entry["action"] == "certificate-renewed" or entry["outcome"] in ("rejected", "failed", "refused"):
                return entry
    return None


@certs.command("renew")
@click.argument("ids", nargs=-1)
@click.option("--url", "base_url", required=True, metavar="wss://HOST:PORT", help="The hub, as operators reach it.")
@click.option("--group", "group_name", metavar="GROUP", help="The chargers of GROUP (with IDs: only those in it).")
@click.option(
    "--expiring",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Only chargers whose certificate expires within DAYS.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Follow each renewal in the audit log for up to S seconds.",
)
@registry_option
@client_options
@click.pass_context
def renew(ctx: click.Context, ids, base_url, group_name, expiring, wait, client: ClientOptions) -> None:
    """Ask chargers to renew their certificates through the hub.

    \b
    EXAMPLES
      wsctl hub certs renew CP-17 --url wss://hub.plant:8443 --certs certs --operator sam --wait 120
      wsctl hub certs renew --expiring 30 --url wss://hub.plant:8443 --certs certs --operator sam
      wsctl --json hub certs renew --group depot-a --url wss://hub.plant:8443 --certs certs --operator sam
    """
    env: Environment = ctx.obj
    if not ids and group_name is None and expiring is None:
        raise UsageError("name the chargers: IDs, --group GROUP or --expiring DAYS")
    records = _chosen(ctx, ids, group_name, expiring)
    if not records:
        env.info("no charger to renew")
        return
    from wsctl.cli.support.runtime import run_async

    started = time.time()
    results = [run_async(lambda r=r: _renew_one(env, base_url, r, client)) for r in records]
    deadline = time.monotonic() + wait
    failed = 0
    for result in results:
        if result["ok"] and wait:
            while (found := _outcome(ctx, result["device"], started)) is None and time.monotonic() < deadline:
                time.sleep(POLL)
            result["renewal"] = found["outcome"] if found else "pending"
            result["detail"] = found["detail"] if found else f"no outcome within {wait:g} s (see wsctl hub audit)"
            result["ok"] = found is not None and found["action"] == "certificate-renewed" and found["outcome"] == "ok"
        failed += not result["ok"]
        shown = result.get("detail") or result.get("message") or f"triggered: {result.get('triggered')}"
        env.emit(result, f"{result['device']}: {'ok' if result['ok'] else 'FAILED'}: {shown}")
    if failed:
        from wsctl.core.errors import DeviceError

        raise DeviceError(f"{failed} of {len(results)} charger(s) did not renew")


STATUS_EPILOG = """\b
EXAMPLES
  wsctl hub certs status                      # the latest renewal of each charger
  wsctl hub certs status CP-17 --all          # every renewal of CP-17
  wsctl --json hub certs status --open | jq -r .device
"""


@certs.command("status", epilog=STATUS_EPILOG)
@click.argument("ids", nargs=-1)
@click.option("--all", "show_all", is_flag=True, help="Every renewal, not only the latest of each charger.")
@click.option("--open", "open_only", is_flag=True, help="Only renewals still under way.")
@registry_option
@click.pass_context
def status(ctx: click.Context, ids: tuple[str, ...], show_all: bool, open_only: bool) -> None:
    """Show certificate renewals through the hub, from its registry.

    \b
    STATE is where a renewal is:
      requested     the charger accepted the trigger; its CSR is awaited
      csr-received  the hub accepted the CSR and is signing it
      signed        the chain was sent (CertificateSigned), no answer yet
      accepted      the charger accepted the chain; awaited: its reconnection with it
      seen          it reconnected with the new certificate; the old one is being revoked
      renewed       the old certificate is revoked and in the CRL
      rejected      the charger answered CertificateSigned with Rejected
      failed        see DETAIL (CSR refused, signing failed, a SecurityEventNotification, ...)
    With --json, one object per renewal (id, device, state, requested_by, started,
    updated, old_serial, old_fingerprint, new_serial, new_fingerprint, old_revoked, detail).
    """
    env: Environment = ctx.obj
    with opened_registry(ctx) as registry:
        found = [
            r
            for device in (ids or (None,))
            for r in registry.renewals(device=device, open_only=open_only, limit=1_000_000)
        ]
    if not show_all:
        latest = {r.device: r for r in sorted(found, key=lambda r: r.id)}
        found = list(latest.values())
    found.sort(key=lambda r: (r.device, r.id) if not show_all else (r.id,))
    if env.json:
        for renewal in found:
            env.emit(renewal.as_dict())
        return
    if not found:
        env.info(f"no certificate renewals in {registry_path(ctx)}")
        return
    rows = [
        (r.id, r.device, r.state, when(r.updated), r.requested_by or "station", r.old_serial, r.new_serial, r.detail)
        for r in found
    ]
    env.emit({}, table(("ID", "DEVICE", "STATE", "UPDATED", "BY", "OLD SERIAL", "NEW SERIAL", "DETAIL"), rows))
