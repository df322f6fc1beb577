"""`wsctl certs crl`: re-issue the certificate revocation list."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, password_file_option, store_dir_option, store_password
from wsctl.cli.support.env import Environment


@click.command("crl")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=None,
    metavar="N",
    help="Next update in N days [default: as last time, 30 at first].",
)
@password_file_option
@store_dir_option
@click.pass_context
def crl(ctx: click.Context, days: int | None, password_file: str | None) -> None:
    """Re-issue ca/crl.pem and ca/crl.der with every revoked certificate.

    A CRL past its next-update date makes strict peers refuse every client:
    re-issue it well before (e.g. from cron) and distribute it.

    \b
    EXAMPLES
      wsctl certs crl
      wsctl certs crl --days 7 --password-file /run/secrets/ca-pass
      openssl crl -in certs/ca/crl.pem -noout -text
    """
    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    store.write_crl(days=days, password=store_password(env, password_file))
    current = store.load_crl()
    from cryptography import x509

    number = current.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    next_update = current.next_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    env.emit(
        {
            "action": "crl",
            "number": number,
            "revoked": len(current),
            "next_update": next_update,
            "pem": str(store.crl_pem_path),
            "der": str(store.crl_der_path),
        },
        f"CRL #{number}: {len(current)} revoked, next update {next_update}\n"
        f"  {store.crl_pem_path}\n  {store.crl_der_path}",
    )
