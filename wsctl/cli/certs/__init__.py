"""`wsctl certs`: the plant PKI (root and issuing CA, device and operator certificates).

Every verb lives in its own module, imported only when it runs; none of them
imports cryptography at module level, so `wsctl --help` stays fast.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup
from wsctl.cli.support.env import Environment

VERBS = {
    name: f"wsctl.cli.certs.{module}:{attr}"
    for name, module, attr in (
        ("init", "init", "init"),
        ("issue", "issue", "issue"),
        ("csr", "csr", "csr"),
        ("sign", "sign", "sign"),
        ("list", "list", "list_"),
        ("show", "show", "show"),
        ("verify", "verify", "verify"),
        ("fingerprint", "fingerprint", "fingerprint"),
        ("hash-data", "hash_data", "hash_data"),
        ("renew", "renew", "renew"),
        ("revoke", "revoke", "revoke"),
        ("crl", "crl", "crl"),
        ("export", "export", "export"),
        ("restore", "restore", "restore"),
        ("est", "est", "est"),
        ("enroll-code", "enroll_code", "enroll_code"),
        ("pending", "pending", "pending"),
        ("approve", "approve", "approve"),
        ("est-user", "est_user", "est_user"),
    )
}

EPILOG = """\b
EXAMPLES
  wsctl certs init --name "Plant CA"                      # root + issuing CA in ./certs
  wsctl certs issue device plc-17 --dns plc-17.plant.local --ip 10.0.0.17
  wsctl certs issue operator alice --role engineer --days 30
  wsctl certs csr plc-18 --ip 10.0.0.18 --out /tmp/plc-18    # as the device would
  wsctl certs sign /tmp/plc-18/plc-18.csr --device --ip 10.0.0.18
  wsctl --json certs list --expiring 30
  wsctl certs verify plc-17 --host 10.0.0.17
  wsctl certs revoke alice --reason key-compromise
  wsctl certs hash-data certs/ca/root.crt                   # OCPP certificateHashData (DeleteCertificate)
  wsctl certs export plc-17 --format device-bundle --out plc-17-bundle   # key, chain, root for the device
  wsctl certs restore 20260301T101500Z                      # undo an 'init --force'
  WSCTL_CERTS=/srv/pki wsctl certs list                      # another store
"""


@click.group("certs", cls=LazyGroup, lazy_commands=VERBS, epilog=EPILOG)
@click.option(
    "--dir",
    "store_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="PKI store directory [default: ./certs; env WSCTL_CERTS].",
)
@click.pass_context
def certs(ctx: click.Context, store_dir: str | None) -> None:
    """Provision the plant PKI: CA, device and operator certificates, CRL.

    Passphrases come from --password-file FILE, the environment variable
    WSCTL_PASSWORD, or a prompt on the terminal. The store passphrase protects
    the CA keys and, unless --key-password-file / WSCTL_KEY_PASSWORD give
    another, the leaf keys. See docs/certs.md.
    """
    env = ctx.ensure_object(Environment)
    ctx.meta["wsctl.certs.dir"] = store_dir or env.environ.get("WSCTL_CERTS") or "certs"
