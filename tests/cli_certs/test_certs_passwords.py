"""wsctl.cli.support.passwords: file, then environment, then fallbacks, then a TTY prompt; never a default."""

from __future__ import annotations

import io
import subprocess
import sys

import click
import pytest

from wsctl.cli.support.env import Environment
from wsctl.cli.support.passwords import read_leaf_key_password, read_password
from wsctl.core.errors import PasswordError


class TTY(io.StringIO):
    def isatty(self):
        return True


def env_with(environ=None, tty=False):
    return Environment(
        stdout=io.StringIO(), stderr=io.StringIO(), stdin=TTY() if tty else io.StringIO(), environ=dict(environ or {})
    )


def test_file_wins_and_loses_exactly_one_newline(tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"s3cret \n\n")
    assert read_password(env_with({"WSCTL_PASSWORD": "env"}), password_file=f) == b"s3cret \n"
    f.write_bytes(b"crlf\r\n")
    assert read_password(env_with(), password_file=f) == b"crlf"
    f.write_bytes(b"\n")
    with pytest.raises(PasswordError, match="empty"):
        read_password(env_with(), password_file=f)
    with pytest.raises(PasswordError, match="cannot read"):
        read_password(env_with(), password_file=tmp_path / "missing")


def test_environment_then_fallbacks(tmp_path):
    assert read_password(env_with({"WSCTL_PASSWORD": "from-env"})) == b"from-env"
    fallback = tmp_path / "fb"
    fallback.write_text("from-fallback")
    got = read_password(env_with(), env_var="WSCTL_P12_PASSWORD", fallbacks=[(fallback, "WSCTL_PASSWORD")])
    assert got == b"from-fallback"


def test_no_terminal_no_source_is_a_clear_error():
    with pytest.raises(PasswordError) as info:
        read_password(env_with(), prompt="CA passphrase")
    assert "no terminal" in info.value.message
    assert "--password-file" in info.value.hint and "WSCTL_PASSWORD" in info.value.hint


def test_terminal_prompt_hidden(monkeypatch):
    seen = {}

    def fake_prompt(text, **kw):
        seen.update(kw, text=text)
        return "typed"

    monkeypatch.setattr(click, "prompt", fake_prompt)
    assert read_password(env_with(tty=True), prompt="CA passphrase", confirm=True) == b"typed"
    assert seen["hide_input"] is True and seen["confirmation_prompt"] is True and seen["text"] == "CA passphrase"


def test_leaf_key_password_sources(tmp_path):
    env = env_with({"WSCTL_KEY_PASSWORD": "leaf"})
    assert read_leaf_key_password(env, no_password=False, key_password_file=None, store_password=b"store") == b"leaf"
    env = env_with()
    assert read_leaf_key_password(env, no_password=False, key_password_file=None, store_password=b"store") == b"store"
    assert read_leaf_key_password(env, no_password=True, key_password_file=None, store_password=b"store") is None
    assert "unencrypted" in env.stderr.getvalue()


def test_certs_help_does_not_import_cryptography():
    code = (
        "import sys; from wsctl.cli.main import run; run(['certs', '--help']); run(['certs', 'issue', '--help']);"
        "print('heavy=' + ','.join(m for m in ('cryptography', 'trio', 'ssl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy="
