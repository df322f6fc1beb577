"""`wsctl certs fingerprint`: the SHA-256 fingerprint that `--pin` takes."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, resolve_certificate, store_dir_option
from wsctl.cli.support.env import Environment


@click.command("fingerprint")
@click.argument("target", metavar="NAME|FILE")
@store_dir_option
@click.pass_context
def fingerprint(ctx: click.Context, target: str) -> None:
    """Print sha256:<hex> of the certificate's DER encoding (pinning form).

    \b
    EXAMPLES
      wsctl certs fingerprint plc-17
      wsctl certs fingerprint device.crt
      pin=$(wsctl certs fingerprint plc-17)    # then: --pin "$pin"
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    from wsctl.pki.identity import fingerprint as sha256_fingerprint

    env: Environment = ctx.obj
    cert, entry = resolve_certificate(get_store(ctx), target)
    value = sha256_fingerprint(cert.public_bytes(Encoding.DER))
    env.emit(
        {"fingerprint": value, "name": entry.name if entry else None, "serial": format(cert.serial_number, "x")}, value
    )
