"""`wsctl certs renew`: a new certificate for the same names, optionally a new key."""

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
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.passwords import read_leaf_key_password


@click.command("renew")
@click.argument("target", metavar="NAME")
@click.option("--days", type=click.IntRange(1, 36500), default=None, help="Validity [default: as before].")
@click.option("--rekey", is_flag=True, help="Generate a new key too (not for certificates signed from a CSR).")
@key_password_options
@password_file_option
@store_dir_option
@click.pass_context
def renew(
    ctx: click.Context,
    target: str,
    days: int | None,
    rekey: bool,
    no_password: bool,
    key_password_file: str | None,
    password_file: str | None,
) -> None:
    """Renew NAME: same names and role, new serial and dates.

    The old certificate is marked superseded (not revoked: it stays valid until
    it expires; revoke it by serial if it must stop working now). Without
    --rekey the key is kept and key.pem is untouched.

    \b
    EXAMPLES
      wsctl certs renew plc-17
      wsctl certs renew alice --days 30 --rekey
      wsctl --json certs list --expiring 14 | jq -r .name | xargs -n1 wsctl certs renew
    """
    env: Environment = ctx.obj
    store = get_store(ctx)
    old = store.find(target)
    password = store_password(env, password_file)
    key_password = None
    if rekey:
        key_password = read_leaf_key_password(
            env, no_password=no_password, key_password_file=key_password_file, store_password=password
        )
    entry = store.renew(target, days=days, rekey=rekey, password=password, key_password=key_password)
    human = entry_human(entry, "renewed") + f"\n  replaces serial {old.serial:x}"
    record = entry_record(entry, action="renew")
    record["replaces"] = format(old.serial, "x")
    env.emit(record, human)
