"""Options and helpers shared by the `wsctl certs` verbs (click only; no cryptography here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.cli.support.passwords import STORE_ENV, read_password

CURRENT_ENV = "WSCTL_CURRENT_PASSWORD"

META_DIR = "wsctl.certs.dir"


def _set_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[META_DIR] = value


def store_dir_option(fn: Callable) -> Callable:
    """`--dir` on a verb too, so `wsctl certs list --dir X` works like `wsctl certs --dir X list`."""
    return click.option(
        "--dir",
        "store_dir",
        type=click.Path(file_okay=False),
        expose_value=False,
        callback=_set_dir,
        is_eager=True,
        help="PKI store directory (overrides the group's --dir and WSCTL_CERTS).",
    )(fn)


def password_file_option(fn: Callable) -> Callable:
    return click.option(
        "--password-file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"File holding the store passphrase (else env {STORE_ENV}, else a prompt).",
    )(fn)


def key_password_options(fn: Callable) -> Callable:
    fn = click.option(
        "--key-password-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Own passphrase for the new leaf key (else env WSCTL_KEY_PASSWORD, else the store passphrase).",
    )(fn)
    return click.option(
        "--no-password", is_flag=True, help="Write the leaf key unencrypted (devices, unattended jobs). Warns."
    )(fn)


def warn_mbedtls_key_type(env: Environment, key_type: str, kind: str) -> None:
    """mbedTLS (ESP-IDF, lwIP devices) cannot verify Ed25519 certificates, whichever side presents them."""
    if key_type == "ed25519":
        who = "devices" if kind == "device" else "devices checking this operator's client certificate"
        env.warn(f"mbedTLS {who} cannot use Ed25519 certificates; use p256 for embedded peers")


def get_store(ctx: click.Context):
    from wsctl.pki.store import Store

    env = ctx.find_object(Environment)
    return Store(ctx.meta.get(META_DIR) or "certs", notify=env.warn if env is not None else None)


def replace_ca_options(fn: Callable) -> Callable:
    """How a command that replaces the current CA proves it may (init --force, restore)."""
    fn = click.option(
        "--i-know-this-replaces-the-ca",
        "replace_unproven",
        is_flag=True,
        help="Replace the current CA without its passphrase (it is lost). Peers keep "
        "trusting what the old root signed until they are given the new one.",
    )(fn)
    return click.option(
        "--current-password-file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"File holding the current CA's passphrase (else env {CURRENT_ENV}, "
        f"else --password-file / {STORE_ENV}, else a prompt).",
    )(fn)


def current_ca_password(
    env: Environment, store, current_password_file: str | None, password_file: str | None, replace_unproven: bool
) -> bytes | None:
    """The passphrase of the CA about to be replaced (None if there is none, or it is declared lost)."""
    if replace_unproven or not store.ca_present():
        return None
    return read_password(
        env,
        password_file=current_password_file,
        env_var=CURRENT_ENV,
        prompt="current CA passphrase",
        fallbacks=[(password_file, STORE_ENV)],
        option="--current-password-file",
    )


def archive_lines(store, archive) -> tuple[dict, str]:
    """Where the replaced CA went and how to put it back (JSON fields, human lines)."""
    if archive is None:
        return {}, ""
    command = f"wsctl certs --dir {store.path} restore {archive.name}"
    return (
        {"archived_to": str(archive), "restore_with": command},
        f"\n  the previous CA is in {archive}\n  to put it back: {command}",
    )


def store_password(env: Environment, password_file: str | None, *, confirm: bool = False) -> bytes:
    return read_password(env, password_file=password_file, prompt="CA passphrase", confirm=confirm)


def entry_record(entry, *, action: str | None = None) -> dict:
    obj: dict[str, Any] = {"action": action} if action else {}
    obj.update(entry.to_json())
    obj["paths"] = {
        "cert": str(entry.paths.cert),
        "chain": str(entry.paths.chain),
        "key": str(entry.paths.key) if entry.has_key else None,
    }
    return obj


def entry_human(entry, verb: str) -> str:
    what = f"{entry.kind} {entry.name}" + (f" (role {entry.role})" if entry.role else "")
    lines = [
        f"{verb} {what}: serial {entry.serial:x}, valid until {entry.not_after:%Y-%m-%d %H:%M}Z",
        f"  cert   {entry.paths.cert}",
        f"  chain  {entry.paths.chain}",
    ]
    if entry.has_key:
        lines.append(f"  key    {entry.paths.key}" + ("" if entry.key_encrypted else "  (unencrypted)"))
    else:
        lines.append("  key    stays on the device (signed from a CSR)")
    lines.append(f"  {entry.fingerprint}")
    return "\n".join(lines)


def crl_freshness(env: Environment, store, now) -> dict:
    """The store CRL's expiry as `--json` keys; warns when peers will refuse it within a day."""
    from wsctl.pki.crlinfo import crl_expiry_text, crl_status

    if not store.crl_der_path.exists():
        env.warn(f"the store has no CRL ({store.crl_der_path}); peers that check revocation refuse everyone")
        return {"crl_next_update": None, "crl_status": "missing", "crl_text": "no CRL"}
    next_update = store.crl_next_update()
    status = crl_status(next_update, now)
    text = crl_expiry_text(next_update, now)
    if status == "expired":
        env.warn(f"the CRL {text}: peers that check CRLs refuse every certificate; 'wsctl certs crl' re-issues it")
    elif status == "expiring":
        env.warn(f"the CRL expires within a day ({text}); re-issue it with 'wsctl certs crl' and distribute it")
    return {
        "crl_next_update": None if next_update is None else next_update.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "crl_status": status,
        "crl_text": text,
    }


def resolve_certificate(store, target: str):
    """(certificate, store entry or None) for a store NAME/serial or a certificate FILE.

    A store name wins over a file of the same name in the current directory, except
    when the argument is clearly a path (has a separator or a certificate suffix).
    """
    import os

    from wsctl.core.errors import InvalidInput, StoreError
    from wsctl.pki.store import load_certificate_file

    looks_like_path = os.sep in target or target.endswith((".pem", ".crt", ".cer", ".der"))
    if not looks_like_path and store.exists():
        try:
            entry = store.find(target)
        except StoreError:
            entry = None
        if entry is not None:
            return store.leaf_cert(entry), entry
    if os.path.isfile(target):
        return load_certificate_file(Path(target)), None
    if os.path.isdir(target):
        raise InvalidInput(f"{target} is a directory, not a certificate file")
    if looks_like_path:
        raise InvalidInput(f"no such certificate file: {target}")
    store.require()
    raise StoreError(
        f"no certificate named {target!r} in {store.path}, and no such file", hint="'wsctl certs list' shows the names"
    )
