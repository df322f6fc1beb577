"""`wsctl certs csr`: make a key and a CSR the way a device does, outside the store."""

from __future__ import annotations

from pathlib import Path

import click

from wsctl.cli.certs.common import key_password_options, password_file_option
from wsctl.cli.support.env import Environment
from wsctl.cli.support.passwords import lookup_password, read_leaf_key_password


@click.command("csr")
@click.argument("name")
@click.option("--dns", "dns", multiple=True, metavar="HOST", help="DNS name to request (repeatable).")
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="IP address to request (repeatable).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for NAME.key and NAME.csr (created 0700).",
)
@click.option(
    "--key-type",
    type=click.Choice(["p256", "p384", "rsa2048", "rsa3072", "ed25519"]),
    default="p256",
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite NAME.key / NAME.csr if they exist.")
@key_password_options
@password_file_option
@click.pass_obj
def csr(
    env: Environment,
    name: str,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    out_dir: str,
    key_type: str,
    force: bool,
    no_password: bool,
    key_password_file: str | None,
    password_file: str | None,
) -> None:
    """Write a new private key (0600) and a CSR with CN=NAME into --out DIR.

    The key is encrypted with --key-password-file / WSCTL_KEY_PASSWORD, else
    --password-file / WSCTL_PASSWORD, else a prompt; --no-password for a
    device that needs a plain key. The requested names are only a request:
    `wsctl certs sign` certifies the names given on its own command line.

    \b
    EXAMPLES
      wsctl certs csr plc-18 --ip 10.0.0.18 --out ./plc-18 --no-password
      wsctl certs sign ./plc-18/plc-18.csr --device --ip 10.0.0.18
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    from wsctl.core.errors import StoreError
    from wsctl.pki import commit, keys
    from wsctl.pki.csr import create_csr
    from wsctl.pki.names import check_dns, check_ip, check_name

    check_name(name)
    for d in dns:
        check_dns(d)
    for a in ips:
        check_ip(a)
    out = Path(out_dir)
    key_path, csr_path = out / f"{name}.key", out / f"{name}.csr"
    existing = [p for p in (key_path, csr_path) if p.exists()]
    if existing and not force:
        raise StoreError(f"{existing[0]} exists; refusing to overwrite a key (--force to replace it)")
    key_password = read_leaf_key_password(
        env,
        no_password=no_password,
        key_password_file=key_password_file,
        store_password=lookup_password(env, password_file, "WSCTL_PASSWORD"),
    )
    key, request = create_csr(name, dns=dns, ips=ips, key_type=key_type)
    with commit.Transaction() as txn:
        txn.write(key_path, keys.serialize_private_key(key, key_password))
        txn.write(csr_path, request.public_bytes(Encoding.PEM), mode=0o644)
    env.emit(
        {
            "action": "csr",
            "name": name,
            "key": str(key_path),
            "csr": str(csr_path),
            "key_encrypted": key_password is not None,
        },
        f"wrote key {key_path}{'' if key_password else ' (unencrypted)'}\n      csr {csr_path}",
    )
