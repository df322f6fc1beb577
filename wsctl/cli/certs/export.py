"""`wsctl certs export`: certificates and keys in the formats devices and browsers eat."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.certs.common import get_store, password_file_option, store_dir_option
from wsctl.cli.support.env import Environment


@click.command("export")
@click.argument("target", metavar="NAME|ca")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pem", "der", "p12", "bundle", "device-bundle", "pem-key", "der-key"]),
    default="pem",
    show_default=True,
    help="pem/der: the certificate; bundle: the chain; p12: key + chain; pem-key/der-key: the key, "
    "UNENCRYPTED; device-bundle: a directory with all a device needs (key, cert, chain, root).",
)
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output file (device-bundle: a new or empty directory) [default: stdout].",
)
@click.option("--legacy", is_flag=True, help="p12 with 3DES + SHA-1 MAC for old consumers (weak).")
@click.option(
    "--key-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Passphrase of the leaf key if it has its own (else WSCTL_KEY_PASSWORD, else the store's).",
)
@click.option(
    "--p12-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Passphrase for the p12 file (else WSCTL_P12_PASSWORD, else the store passphrase).",
)
@password_file_option
@store_dir_option
@click.pass_context
def export(
    ctx: click.Context,
    target: str,
    fmt: str,
    out: str | None,
    legacy: bool,
    key_password_file: str | None,
    p12_password_file: str | None,
    password_file: str | None,
) -> None:
    """Export NAME (or the CA with `ca`) as PEM, DER, a chain bundle, PKCS#12, its key or a device bundle.

    For `ca`: pem/der is the root (install it as the trust anchor), bundle is
    issuing + root, p12 holds both CA certificates and no key. PKCS#12 is
    encrypted with AES-256 (PBES2, PBKDF2-SHA256) unless --legacy.
    pem-key, der-key and device-bundle hold the key decrypted (PKCS#8, what
    mbedTLS / ESP-IDF / lwIP load): written 0600, with a warning; delete them
    once the device has them. device-bundle writes key.pem key.der cert.pem
    cert.der chain.pem root.pem root.der and README.txt (which file goes where).

    \b
    EXAMPLES
      wsctl certs export plc-17 --format device-bundle --out plc-17-bundle   # flash these
      wsctl certs export ca --format der --out root.der          # trust anchor for devices
      wsctl certs export plc-17 --format bundle --out chain.pem
      wsctl certs export plc-17 --format der-key --out plc-17.key.der
      wsctl certs export alice --format p12 --out alice.p12      # browser / OS import
      wsctl certs export alice --format p12 --legacy --out alice-old.p12
    """
    from wsctl.pki.export import export as export_material
    from wsctl.pki.export import refuse_ca_key

    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    binary = fmt in ("der", "p12", "der-key")
    plain_key = fmt in ("pem-key", "der-key", "device-bundle")
    _check_destination(env, fmt, out, binary=binary, plain_key=plain_key)
    refuse_ca_key(target, fmt)
    entry = None if target == "ca" else store.find(target)
    _warn_about(env, entry, fmt)
    p12_password, key_password = _passphrases(
        env, entry, fmt, plain_key, password_file, key_password_file, p12_password_file
    )
    if fmt == "device-bundle":
        from wsctl.cli.certs.device_bundle import write_device_bundle

        assert out is not None  # _check_destination refused a bundle without --out
        write_device_bundle(env, store, target, entry, out, key_password)
        return
    if legacy and fmt == "p12":
        env.warn("legacy PKCS#12 uses 3DES and a SHA-1 MAC; only for consumers that cannot read AES")
    data = export_material(store, target, fmt, p12_password=p12_password, key_password=key_password, legacy=legacy)
    if plain_key:
        assert entry is not None  # refuse_ca_key refused the CA's key
        env.warn(
            f"{out or 'the output'} holds the private key of {entry.name} UNENCRYPTED: "
            "copy it to the device, then delete it"
        )
    if out is None:
        if binary:
            env.stdout.flush()
            text_stream: Any = env.stdout  # it has .buffer: _check_destination made sure
            text_stream.buffer.write(data)
            text_stream.buffer.flush()
        else:
            env.stdout.write(data.decode("ascii"))
            env.stdout.flush()
        return
    # a p12 or key file holds a private key; certificates are public and devices' tools want to read them
    from wsctl.cli.support.output_file import write_output

    write_output(out, data, mode=0o600 if fmt == "p12" or plain_key else 0o644)
    env.emit(
        {"action": "export", "target": target, "format": fmt, "out": out, "bytes": len(data), "legacy": legacy},
        f"wrote {fmt} of {target} to {out} ({len(data)} bytes)",
    )


def _check_destination(env: Environment, fmt: str, out: str | None, *, binary: bool, plain_key: bool) -> None:
    from wsctl.core.errors import UsageError

    if fmt == "device-bundle" and out is None:
        raise UsageError("device-bundle is a directory of files; give --out DIR")
    if out is None and binary and (env.stdout_isatty or not hasattr(env.stdout, "buffer")):
        raise UsageError(f"{fmt} is binary; give --out FILE (or redirect stdout)")
    if out is None and plain_key and env.stdout_isatty:
        raise UsageError(f"{fmt} is an unencrypted private key; give --out FILE (or redirect stdout)")


def _warn_about(env: Environment, entry, fmt: str) -> None:
    if entry is not None and entry.effective_status() != "valid":
        # exporting is allowed (forensics, replacing a device), but never silently
        env.warn(f"{entry.name} is {entry.effective_status()}: peers that check the CRL or dates will refuse it")
    if fmt == "p12" and entry is not None and not entry.has_key:
        env.warn(
            f"{entry.name} was signed from a CSR: its key never entered the store, so the PKCS#12 holds certificates only"
        )


def _passphrases(
    env: Environment,
    entry,
    fmt: str,
    plain_key: bool,
    password_file: str | None,
    key_password_file: str | None,
    p12_password_file: str | None,
) -> tuple[bytes | None, bytes | None]:
    """(the PKCS#12's passphrase, the stored key's passphrase), each asked only when the export needs it."""
    from wsctl.cli.support.passwords import KEY_ENV, STORE_ENV, read_password

    p12_password = key_password = None
    if fmt == "p12":
        p12_password = read_password(
            env,
            password_file=p12_password_file,
            env_var="WSCTL_P12_PASSWORD",
            prompt="PKCS#12 passphrase",
            confirm=True,
            fallbacks=[(password_file, STORE_ENV)],
            option="--p12-password-file",
        )
    if (plain_key or fmt == "p12") and entry is not None and entry.has_key and entry.key_encrypted:
        key_password = read_password(
            env,
            password_file=key_password_file,
            env_var=KEY_ENV,
            prompt="key passphrase",
            fallbacks=[(password_file, STORE_ENV)],
            option="--key-password-file",
        )
    return p12_password, key_password
