"""`wsctl certs est-user NAME`: a line for the EST server's --basic-users file."""

from __future__ import annotations

import click

from wsctl.cli.support.env import Environment


@click.command("est-user")
@click.argument("name")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Take the password from FILE (at least 16 characters) instead of generating one; it is never printed.",
)
@click.pass_obj
def est_user(env: Environment, name: str, secret_file: str | None) -> None:
    """Print NAME:HASH for 'wsctl certs est --basic-users FILE' (auth=basic).

    The file keeps only the scrypt hash; a generated password is shown once,
    on stderr. The account enrolls the certificate NAME (the CSR's CN must be
    NAME or absent).

    \b
    EXAMPLES
      wsctl certs est-user carol >> est-users.txt
      wsctl certs est-user cam-7 --secret-file cam-7.pass >> est-users.txt
    """
    from wsctl.cli.hub.common import read_secret_file
    from wsctl.pki import names
    from wsctl.registry.secret_hash import generate_secret, hash_secret

    names.check_name(name)
    secret = read_secret_file(secret_file) if secret_file else generate_secret()
    line = f"{name}:{hash_secret(secret)}"
    env.emit({"name": name, "line": line, "password": None if secret_file else secret}, line)
    if not secret_file and not env.json:
        env.info(f"password for {name}: {secret}\n(shown once; the line above keeps only its hash)")
