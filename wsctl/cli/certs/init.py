"""`wsctl certs init`: create the root and issuing CA of a plant PKI."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import (
    archive_lines,
    current_ca_password,
    get_store,
    password_file_option,
    replace_ca_options,
    store_dir_option,
    store_password,
)
from wsctl.cli.support.env import Environment
from wsctl.cli.support.render import count

KEY_TYPES = ("p256", "p384", "rsa2048", "rsa3072", "ed25519")


MIN_CA_PASSPHRASE = 12


@click.command("init")
@click.option(
    "--name", default="Plant CA", show_default=True, help="CA name (root 'NAME Root', issuing 'NAME Issuing')."
)
@click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    default="p256",
    show_default=True,
    help="CA key type. P-256 is what mbedTLS/ESP-IDF devices verify.",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing CA (needs its passphrase); the old one is moved to archive/."
)
@replace_ca_options
@password_file_option
@store_dir_option
@click.pass_context
def init(
    ctx: click.Context,
    name: str,
    key_type: str,
    force: bool,
    current_password_file: str | None,
    replace_unproven: bool,
    password_file: str | None,
) -> None:
    """Create a root CA (10 years) and an issuing CA (5 years, path length 0).

    Both keys are encrypted with the store passphrase. An empty CRL is written
    so that peers checking revocation work from day one.

    --force replaces an existing CA only with proof of its passphrase
    (--current-password-file, WSCTL_CURRENT_PASSWORD, else the store
    passphrase, else a prompt), or with --i-know-this-replaces-the-ca when it
    is lost. The old CA is archived; `wsctl certs restore` puts it back.

    \b
    EXAMPLES
      wsctl certs init --name "Plant CA"
      wsctl certs --dir /srv/pki init --password-file /run/secrets/ca-pass
      WSCTL_PASSWORD=... wsctl certs init --key-type p384
      wsctl certs init --force --current-password-file old.pass --password-file new.pass
      wsctl certs init --force --i-know-this-replaces-the-ca    # the old passphrase is lost
    """
    from wsctl.core.errors import UsageError

    env: Environment = ctx.obj
    store = get_store(ctx)
    if replace_unproven and not force:
        raise UsageError("--i-know-this-replaces-the-ca goes with --force")
    current = current_ca_password(env, store, current_password_file, password_file, replace_unproven) if force else None
    if key_type == "ed25519":
        env.warn("mbedTLS (ESP-IDF, lwIP devices) cannot verify Ed25519 certificates; use p256 for embedded peers")
    password = store_password(env, password_file, confirm=True)
    if len(password) < MIN_CA_PASSPHRASE:
        # the CA keys sign every certificate of the plant; a short passphrase is
        # what an attacker with a copy of ca/*.key tries first
        env.warn(
            f"the CA passphrase has {count(len(password), 'character')}; use at least {MIN_CA_PASSPHRASE} (a few random words)"
        )
    if replace_unproven and store.ca_present():
        env.warn(
            "replacing the CA without its passphrase: peers that trust the old root keep trusting what it "
            "signed until they are given the new one ('wsctl certs export ca')"
        )
    archive = store.init(
        name=name,
        key_type=key_type,
        password=password,
        force=force,
        current_password=current,
        replace_unproven=replace_unproven,
    )
    archived_json, archived_human = archive_lines(store, archive)
    root, issuing = store.root_cert(), store.issuing_cert()
    from wsctl.pki.inspect import describe

    r, i = describe(root), describe(issuing)
    env.emit(
        {
            "action": "init",
            "store": str(store.path),
            "name": name,
            "key_type": key_type,
            "root": {k: r[k] for k in ("subject", "serial", "not_after", "fingerprint")},
            "issuing": {k: i[k] for k in ("subject", "serial", "not_after", "fingerprint")},
            "crl": str(store.crl_pem_path),
            **archived_json,
        },
        f"created {name} in {store.path} ({key_type})\n"
        f"  root     {store.root_cert_path}  until {r['not_after']}\n"
        f"  issuing  {store.issuing_cert_path}  until {i['not_after']}\n"
        f"  crl      {store.crl_pem_path}\n"
        f"  root {r['fingerprint']}{archived_human}",
    )
