"""README's first session, command by command (issue 9's Proof): the PKI block is
run as written by bash with the installed `wsctl`, and every bundle file the
prose says to copy to the device exists and is what it says."""

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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readme_first_session_whole(tmp_path):
    """Every ```sh block of the first session, in order, as one bash script:
    the fixed ports become free ones, and after each `... &` the script waits
    (bounded) until that server listens — a person typing the next line gives
    it that time."""
    section = README.read_text().split("## A first session", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh(?: doctest)?\n(.*?)```", section, re.S)
    assert len(blocks) >= 3, "the first session has its PKI, device and recording blocks"
    script = "\n".join(blocks).replace("\\\n", " ")
    ports = {"8443": str(_free_port()), "9443": str(_free_port())}
    lines = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for line in script.splitlines():
        for fixed, free in ports.items():
            line = line.replace(f":{fixed}", f":{free}")
        lines.append(line)
        if line.rstrip().split("#")[0].rstrip().endswith("&"):
            port = re.search(r"127\.0\.0\.1:(\d+)", line).group(1)
            lines.append(
                f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done"
            )
    wsctl_bin = Path(sys.executable).parent
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = f"{wsctl_bin}{os.pathsep}{environ.get('PATH', '')}"
    environ["HOME"] = str(tmp_path)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    assert (tmp_path / "session.jsonl").is_file()
