"""README's first session (issue 9's Proof): the PKI block is run as written by
bash with the installed `wsctl`, and every bundle file the prose says to copy to
the device exists and is what it says.  The whole session, every block in order
with its servers, is run by tests/test_docs_run.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_private_key

README = Path(__file__).parents[2] / "README.md"


def first_session() -> tuple[str, str]:
    """(the first ```sh block of "## A first session", the prose right after it)."""
    section = README.read_text().split("## A first session", 1)[1]
    match = re.search(r"```sh(?: doctest)?\n(.*?)```\n(.*?)(?:```|\n## )", section, re.S)
    assert match, "README's first session has no ```sh block"
    return match.group(1), match.group(2)


def test_readme_first_session_runs_and_says_what_to_copy(tmp_path):
    commands, prose = first_session()
    assert "--format device-bundle" in commands
    wsctl_bin = Path(sys.executable).parent
    assert (wsctl_bin / "wsctl").exists(), "wsctl is not installed next to this python"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = f"{wsctl_bin}{os.pathsep}{environ.get('PATH', '')}"
    environ["HOME"] = str(tmp_path)  # no user config file changes what the README shows
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "UNENCRYPTED" in run.stderr  # the plain-key warning

    named = re.findall(r"`(plc-17-bundle/[^`]+)`", prose)
    assert {"plc-17-bundle/key.der", "plc-17-bundle/chain.pem", "plc-17-bundle/root.der"} <= set(named)
    for path in named:
        assert (tmp_path / path).is_file(), path
        assert (tmp_path / path).stat().st_mode & 0o777 == 0o600
    bundle = tmp_path / "plc-17-bundle"
    key = load_der_private_key((bundle / "key.der").read_bytes(), password=None)  # plain, as the prose says
    chain = x509.load_pem_x509_certificates((bundle / "chain.pem").read_bytes())
    root = x509.load_der_x509_certificate((bundle / "root.der").read_bytes())
    assert len(chain) == 2 and chain[0].public_key() == key.public_key()
    assert chain[1].issuer == root.subject
    # the store keeps the key encrypted: only the bundle holds it in the clear
    assert b"ENCRYPTED" in (tmp_path / "certs" / "devices" / "plc-17" / "key.pem").read_bytes()
