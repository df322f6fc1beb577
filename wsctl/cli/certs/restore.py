"""`wsctl certs restore`: put back a CA that `init --force` (or an earlier restore) archived."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import (
    archive_lines,
    current_ca_password,
    get_store,
    password_file_option,
    replace_ca_options,
    store_dir_option,
)
from wsctl.cli.support.env import Environment


@click.command("restore")
@click.argument("archive_name", metavar="ARCHIVE")
@replace_ca_options
@password_file_option
@store_dir_option
@click.pass_context
def restore(
    ctx: click.Context,
    archive_name: str,
    current_password_file: str | None,
    replace_unproven: bool,
    password_file: str | None,
) -> None:
    """Make the CA archived as archive/ARCHIVE current again, with its certificates.

    The CA it replaces is archived in turn (so a restore can be undone the
    same way) and, like `init --force`, only with proof of its passphrase or
    --i-know-this-replaces-the-ca. The restored CA keeps its own passphrase.
    The archives are the directories under certs/archive/.

    \b
    EXAMPLES
      wsctl certs restore 20260301T101500Z
      wsctl certs restore 20260301T101500Z --current-password-file new-ca.pass
    """
    env: Environment = ctx.obj
    store = get_store(ctx)
    current = current_ca_password(env, store, current_password_file, password_file, replace_unproven)
    archive = store.restore(archive_name, current_password=current, replace_unproven=replace_unproven)
    archived_json, archived_human = archive_lines(store, archive)
    root = store.root_cert()
    env.emit(
        {
            "action": "restore",
            "store": str(store.path),
            "restored": archive_name,
            "root_subject": root.subject.rfc4514_string(),
            **archived_json,
        },
        f"restored the CA archived as {archive_name} ({root.subject.rfc4514_string()}){archived_human}",
    )
