"""`wsctl certs show`: what a certificate says, as text or JSON."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, resolve_certificate, store_dir_option
from wsctl.cli.support.env import Environment


@click.command("show")
@click.argument("target", metavar="NAME|FILE")
@store_dir_option
@click.pass_context
def show(ctx: click.Context, target: str) -> None:
    """Show a certificate from the store (by name or serial) or from a PEM/DER file.

    \b
    EXAMPLES
      wsctl certs show plc-17
      wsctl certs show ./certs/ca/issuing.crt
      wsctl --json certs show alice | jq -r .role
    """
    from wsctl.pki.inspect import describe

    env: Environment = ctx.obj
    store = get_store(ctx)
    cert, entry = resolve_certificate(store, target)
    info = describe(cert)
    if entry is not None:
        info["status"] = entry.effective_status()
        info["store_paths"] = {
            "cert": str(entry.paths.cert),
            "chain": str(entry.paths.chain),
            "key": str(entry.paths.key) if entry.has_key else None,
        }
        if entry.revoked_at:
            info["revoked_at"] = entry.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            info["reason"] = entry.reason
    env.emit(info, _human(info))


def _human(info: dict) -> str:
    rows = [
        ("subject", info["subject"]),
        ("issuer", info["issuer"]),
        ("identity", info["uri"] or "-"),
        ("role", info["role"] or "-"),
        ("serial", info["serial"]),
        ("valid", f"{info['not_before']} .. {info['not_after']}"),
        (
            "status",
            info.get("status", "-") + (f" ({info['reason']}, {info['revoked_at']})" if info.get("revoked_at") else ""),
        ),
        ("key", info["key_type"]),
        ("dns", ", ".join(info["dns"]) or "-"),
        ("ip", ", ".join(info["ips"]) or "-"),
        ("ca", f"yes, path length {info['path_length']}" if info["is_ca"] else "no"),
        ("key usage", ", ".join(info["key_usage"]) or "-"),
        ("ext key usage", ", ".join(info["extended_key_usage"]) or "-"),
        ("extensions", ", ".join(f"{e['name']}{' (critical)' if e['critical'] else ''}" for e in info["extensions"])),
        ("fingerprint", info["fingerprint"]),
    ]
    if "store_paths" not in info:
        rows = [r for r in rows if r[0] != "status"]
    return "\n".join(f"{k + ':':<15}{v}" for k, v in rows)
