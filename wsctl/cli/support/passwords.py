"""Where every command gets its passphrases: a file, an environment variable, or the terminal.

Order: the `--...-password-file` option, then its environment variable, then
any fallback sources the caller names (e.g. the store passphrase for leaf keys),
and only then a hidden TTY prompt.  Without a terminal and without a source the
command fails with a hint instead of hanging on a prompt nobody sees.
Passwords are never defaulted and never hard-coded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import PasswordError

STORE_ENV = "WSCTL_PASSWORD"
KEY_ENV = "WSCTL_KEY_PASSWORD"


def _from_file(path: str | Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PasswordError(f"cannot read passphrase file {path}: {exc.strerror or exc}") from None
    # editors and `echo` add one newline; anything else is part of the passphrase
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise PasswordError(f"passphrase file {path} is empty")
    return data


def lookup_password(env: Environment, password_file: str | Path | None, env_var: str | None) -> bytes | None:
    """The passphrase from a file or an environment variable, or None if neither is set."""
    if password_file:
        return _from_file(password_file)
    if env_var and env.environ.get(env_var):
        return env.environ[env_var].encode("utf-8")
    return None


def read_password(
    env: Environment,
    *,
    password_file: str | Path | None = None,
    env_var: str | None = STORE_ENV,
    prompt: str = "CA passphrase",
    confirm: bool = False,
    fallbacks: Sequence[tuple[str | Path | None, str | None]] = (),
    option: str = "--password-file",
) -> bytes:
    for source_file, source_env in ((password_file, env_var), *fallbacks):
        found = lookup_password(env, source_file, source_env)
        if found is not None:
            return found
    if not env.stdin_isatty:
        names = f"{option} FILE" + (f" or the environment variable {env_var}" if env_var else "")
        raise PasswordError(f"{prompt} needed and no terminal to ask on", hint=f"give it with {names}")
    try:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    except click.Abort:  # the terminal's input ended (Ctrl-D); Ctrl-C is `Interrupted`
        raise PasswordError(f"no {prompt} given: the input ended") from None
    if not value:
        raise PasswordError(f"empty {prompt}")
    return value.encode("utf-8")


def read_leaf_key_password(
    env: Environment,
    *,
    no_password: bool,
    key_password_file: str | Path | None,
    store_password: bytes | None,
    what: str = "the new private key",
) -> bytes | None:
    """The passphrase for a new leaf key: its own if given, else the store's; None with --no-password."""
    if no_password:
        env.warn(f"{what} is written unencrypted (--no-password); keep the file 0600 and off shared disks")
        return None
    own = lookup_password(env, key_password_file, KEY_ENV)
    if own is not None:
        return own
    if store_password is not None:
        return store_password
    return read_password(env, env_var=KEY_ENV, prompt="key passphrase", confirm=True, option="--key-password-file")
