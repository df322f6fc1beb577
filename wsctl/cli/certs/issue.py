"""`wsctl certs issue device|operator`: new key and certificate from the issuing CA."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import (
    entry_human,
    entry_record,
    get_store,
    key_password_options,
    password_file_option,
    store_dir_option,
    store_password,
    warn_mbedtls_key_type,
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.passwords import read_leaf_key_password

LEAF_KEY_TYPES = ("p256", "p384", "rsa2048", "rsa3072", "ed25519")


def _key_type_option(fn):
    return click.option(
        "--key-type",
        type=click.Choice(LEAF_KEY_TYPES),
        default="p256",
        show_default=True,
        help="Key type of the new leaf key.",
    )(fn)


@click.group(
    "issue",
    epilog="""\b
EXAMPLES
  wsctl certs issue device plc-17 --dns plc-17.plant.local --ip 10.0.0.17
  wsctl certs issue operator alice --role engineer
""",
)
def issue() -> None:
    """Issue a device (server) or operator (client) certificate with a new key."""


@issue.command("device")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option(
    "--dns",
    "dns",
    multiple=True,
    metavar="HOST",
    help="DNS name the device is reached by (repeatable); {name} stands for each NAME.",
)
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="IP address the device is reached by (repeatable).")
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True, help="Validity in days.")
@_key_type_option
@key_password_options
@password_file_option
@store_dir_option
@click.pass_context
def device(
    ctx: click.Context,
    names: tuple[str, ...],
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    days: int,
    key_type: str,
    no_password: bool,
    key_password_file: str | None,
    password_file: str | None,
) -> None:
    """Issue a certificate for device NAME (serverAuth and clientAuth: it may listen and dial).

    Every --dns and --ip goes into the subjectAltName (clients verify names
    there, never in the CN), plus the identity URI urn:wsctl:device:NAME.

    Several NAMEs are issued in one operation (one passphrase, one commit:
    all or none), much faster than one command each in a large store; give
    them --dns with {name} (an --ip would be the same address for all).

    \b
    EXAMPLES
      wsctl certs issue device plc-17 --dns plc-17.plant.local --ip 10.0.0.17
      wsctl certs issue device charger-3 --ip 192.168.4.3 --days 730 --no-password
      wsctl --json certs issue device gw --dns gw.plant.local --password-file ca.pass
      wsctl certs issue device plc-1 plc-2 plc-3 --dns '{name}.plant.local'
    """
    from wsctl.core.errors import UsageError

    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    if len(names) > 1 and ips:
        raise UsageError(
            "--ip with several NAMEs would certify the same address for all of them; issue them one by one"
        )
    # bad names fail before any passphrase prompt
    specs = [store.device_spec(name, [d.replace("{name}", name) for d in dns], ips, days) for name in names]
    password = store_password(env, password_file)
    key_password = read_leaf_key_password(
        env, no_password=no_password, key_password_file=key_password_file, store_password=password
    )
    warn_mbedtls_key_type(env, key_type, "device")
    entries = store.issue_devices(specs, password=password, key_password=key_password, key_type=key_type)
    for entry in entries:
        env.emit(entry_record(entry, action="issue"), entry_human(entry, "issued"))


@issue.command("operator")
@click.argument("name")
@click.option(
    "--role", required=True, help="observer, operator, engineer, supervisor, configure-admin, security-admin."
)
@click.option("--allow-custom-role", is_flag=True, help="Accept a role outside that vocabulary (lower-case, a-z0-9-).")
@click.option("--days", type=click.IntRange(1, 36500), default=30, show_default=True, help="Validity in days.")
@_key_type_option
@key_password_options
@password_file_option
@store_dir_option
@click.pass_context
def operator(
    ctx: click.Context,
    name: str,
    role: str,
    allow_custom_role: bool,
    days: int,
    key_type: str,
    no_password: bool,
    key_password_file: str | None,
    password_file: str | None,
) -> None:
    """Issue a TLS client certificate for operator NAME carrying ROLE (clientAuth).

    Identity: URI SAN urn:wsctl:operator:NAME. Role: the subject's single OU.

    \b
    EXAMPLES
      wsctl certs issue operator alice --role engineer
      wsctl certs issue operator nightly-job --role observer --days 7 --no-password
      wsctl certs issue operator bob --role line-lead --allow-custom-role
    """
    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    from wsctl.pki.names import check_name, check_role

    check_name(name)
    check_role(role, allow_custom=allow_custom_role)
    password = store_password(env, password_file)
    key_password = read_leaf_key_password(
        env, no_password=no_password, key_password_file=key_password_file, store_password=password
    )
    warn_mbedtls_key_type(env, key_type, "operator")
    entry = store.issue_operator(
        name,
        role=role,
        days=days,
        password=password,
        key_password=key_password,
        key_type=key_type,
        allow_custom_role=allow_custom_role,
    )
    env.emit(entry_record(entry, action="issue"), entry_human(entry, "issued"))
