"""`wsctl certs revoke`: revoke a certificate and re-issue the CRL."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import entry_record, get_store, password_file_option, store_dir_option, store_password
from wsctl.cli.support.env import Environment

REASONS = (
    "unspecified",
    "key-compromise",
    "affiliation-changed",
    "superseded",
    "cessation-of-operation",
    "certificate-hold",
    "privilege-withdrawn",
    "ca-compromise",
    "aa-compromise",
)


@click.command("revoke")
@click.argument("target", metavar="NAME|SERIAL")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    metavar="REASON",
    help=f"RFC 5280 reason: {', '.join(REASONS)}.",
)
@password_file_option
@store_dir_option
@click.pass_context
def revoke(ctx: click.Context, target: str, reason: str, password_file: str | None) -> None:
    """Revoke a certificate by name or hex serial; rewrites ca/crl.pem and ca/crl.der.

    Push the new CRL to every server that checks client certificates (and to
    devices without a clock: for them the CRL is the only thing that works).

    \b
    EXAMPLES
      wsctl certs revoke alice --reason key-compromise
      wsctl certs revoke 5c45c78696ddf036c1544fd7f878ed31e1a0116f
      wsctl --json certs revoke plc-17 --reason cessation-of-operation
    """
    from wsctl.pki.builder import parse_reason

    env: Environment = ctx.obj
    store = get_store(ctx)
    parse_reason(reason)
    store.find(target)  # unknown names fail before the passphrase prompt
    entry = store.revoke(target, reason=reason, password=store_password(env, password_file))
    obj = entry_record(entry, action="revoke")
    obj["crl"] = {"pem": str(store.crl_pem_path), "der": str(store.crl_der_path)}
    env.emit(
        obj,
        f"revoked {entry.kind} {entry.name} (serial {entry.serial:x}, {entry.reason})\n"
        f"  crl    {store.crl_pem_path}, {store.crl_der_path}",
    )
