"""`wsctl certs sign`: certify a device's or operator's CSR for the names approved here."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import (
    entry_human,
    entry_record,
    get_store,
    password_file_option,
    store_dir_option,
    store_password,
    warn_mbedtls_key_type,
)
from wsctl.cli.support.env import Environment


@click.command("sign")
@click.argument("csr_file", metavar="CSR", type=click.Path(dir_okay=False))
@click.option("--device", "kind", flag_value="device", help="Sign as a device certificate (serverAuth and clientAuth).")
@click.option("--operator", "kind", flag_value="operator", help="Sign as an operator (client) certificate.")
@click.option("--name", default=None, help="Store name [default: the CSR's common name].")
@click.option("--dns", "dns", multiple=True, metavar="HOST", help="Approved DNS name (repeatable).")
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="Approved IP address (repeatable).")
@click.option("--role", default=None, help="Operator role (required with --operator).")
@click.option("--allow-custom-role", is_flag=True, help="Accept a role outside the standard vocabulary.")
@click.option(
    "--days", type=click.IntRange(1, 36500), default=None, help="Validity [default: device 365, operator 30]."
)
@password_file_option
@store_dir_option
@click.pass_context
def sign(
    ctx: click.Context,
    csr_file: str,
    kind: str | None,
    name: str | None,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    role: str | None,
    allow_custom_role: bool,
    days: int | None,
    password_file: str | None,
) -> None:
    """Sign CSR: only its public key is used; names come from this command line.

    The CSR's signature must verify (proof the requester holds the key). Its
    requested names and extensions are shown but never copied. No key file
    goes into the store: the key stays where the CSR was made.

    \b
    EXAMPLES
      wsctl certs sign plc-18.csr --device --ip 10.0.0.18 --dns plc-18.plant.local
      wsctl certs sign laptop.csr --operator --name carol --role supervisor --days 14
    """
    from wsctl.core.errors import InvalidInput, UsageError
    from wsctl.pki.csr import load_csr, requested_names

    env: Environment = ctx.obj
    if kind is None:
        raise UsageError("say what to sign it as: --device or --operator")
    store = get_store(ctx)
    store.require()
    try:
        data = open(csr_file, "rb").read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {csr_file}: {exc.strerror}") from None
    request = load_csr(data, source=csr_file)
    if kind == "operator":
        from wsctl.pki.names import check_role

        check_role(role, allow_custom=allow_custom_role)  # before the passphrase prompt
    from wsctl.pki.keys import key_type_of

    warn_mbedtls_key_type(env, key_type_of(request.public_key()), kind)
    entry = store.sign_csr(
        data,
        kind=kind,
        name=name,
        dns=dns,
        ips=ips,
        role=role,
        days=days,
        allow_custom_role=allow_custom_role,
        password=store_password(env, password_file),
    )
    asked = requested_names(request)
    if asked:
        env.info(f"the CSR asked for {', '.join(asked)}; certified only what this command line approved")
    env.emit(entry_record(entry, action="sign"), entry_human(entry, "signed"))
