"""`wsctl certs hash-data`: a certificate's OCPP certificateHashData, the name
DeleteCertificate takes and GetInstalledCertificateIds answers with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _rest_of_chain(data: bytes, source: str) -> list:
    """The certificates after the first of a PEM file (its issuer first); none of a DER file."""
    from cryptography import x509

    if b"-----BEGIN" not in data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)[1:]
    except ValueError:
        # the first one loaded (`load_certificate`): a later block is what is broken
        raise InvalidInput(
            f"{source}: a certificate after the first is not readable; give the issuer with --issuer FILE"
        ) from None


@click.command("hash-data")
@click.argument("file", metavar="FILE")
@click.option(
    "--issuer",
    "issuer_file",
    metavar="FILE",
    help="The issuer's certificate [default: the next one in FILE, or FILE itself for a root].",
)
@click.option(
    "--algorithm",
    type=click.Choice(["SHA256", "SHA384", "SHA512"]),
    default="SHA256",
    show_default=True,
    help="hashAlgorithm of the hashes.",
)
@click.pass_obj
def hash_data(env: Environment, file: str, issuer_file: str | None, algorithm: str) -> None:
    """Print the certificateHashData (JSON) of the certificate in FILE.

    hashAlgorithm, issuerNameHash and issuerKeyHash (of the issuer's name and
    public key, as an OCSP CertID) and serialNumber (hex). A root names
    itself as its issuer.

    \b
    EXAMPLES
      wsctl certs hash-data certs/ca/root.crt
      wsctl certs hash-data certs/devices/CP-17/chain.pem          # issuer: the next certificate
      wsctl certs hash-data cp17.crt --issuer certs/ca/issuing.crt --algorithm SHA384
      wsctl send wss://hub:8443/devices/CP-17 delete_certificate --profile ocpp16 --certs certs \\
          --operator sam --yes certificate_hash_data="$(wsctl certs hash-data old-root.crt)"
    """
    from wsctl.pki.ocpp_hash import certificate_hash_data, load_certificate
    from wsctl.pki.station_side import is_self_signed

    data = _read(file)
    cert = load_certificate(data, source=file)
    if issuer_file is not None:
        issuer = load_certificate(_read(issuer_file), source=issuer_file)
    else:
        rest = _rest_of_chain(data, file)
        if rest:
            issuer = rest[0]
        elif is_self_signed(cert):
            issuer = cert
        else:
            raise InvalidInput(
                f"{file}: {cert.subject.rfc4514_string()} is not self-signed: give its issuer with --issuer FILE"
            )
    hashed = certificate_hash_data(cert, issuer, algorithm)
    env.emit(hashed, json.dumps(hashed))
