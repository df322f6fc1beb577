"""`wsctl certs verify`: would a peer accept this certificate?"""

from __future__ import annotations

import click

from wsctl.cli.certs.common import crl_freshness, get_store, resolve_certificate, store_dir_option
from wsctl.cli.support.env import Environment


@click.command("verify")
@click.argument("target", metavar="NAME|FILE")
@click.option("--host", default=None, metavar="HOST|IP", help="Name or address a client would dial (SANs only).")
@click.option(
    "--purpose",
    type=click.Choice(["device", "operator"]),
    default=None,
    help="Check the EKU for this use (default: from the certificate's identity).",
)
@store_dir_option
@click.pass_context
def verify(ctx: click.Context, target: str, host: str | None, purpose: str | None) -> None:
    """Check chain to the store's root, dates, revocation (CRL), EKU and name.

    Exit 0 when a peer would accept it. A rejection prints one line and exits
    4 (the TLS-failure code: a handshake would fail the same way); an
    unreadable file exits 8; a missing store or unknown name exits 1.
    The CRL's next update is shown (JSON: crl_next_update, crl_status) and
    warned about when it is less than a day away.

    \b
    EXAMPLES
      wsctl certs verify plc-17 --host 10.0.0.17
      wsctl certs verify alice --purpose operator
      wsctl certs verify ./from-vendor/device.pem --host charger-3.plant.local
    """
    import datetime as dt

    from wsctl.pki.inspect import verify_leaf

    env: Environment = ctx.obj
    store = get_store(ctx)
    cert, entry = resolve_certificate(store, target)
    now = dt.datetime.now(dt.UTC)
    result = verify_leaf(
        cert,
        root=store.root_cert(),
        issuing=store.issuing_cert(),
        crl=store.load_crl(),
        host=host,
        purpose=purpose,
        at=now,
    )
    # after the checks: an expired or missing CRL is their refusal already, not a warning too
    crl = crl_freshness(env, store, now)
    result["crl_next_update"], result["crl_status"] = crl["crl_next_update"], crl["crl_status"]
    env.emit(
        result,
        f"OK {entry.kind + ' ' + entry.name if entry else target}: {', '.join(result['checks'])}"
        f"\n  CRL: {crl['crl_text']}",
    )
