"""The mbedTLS 2.28 device of the tests (tests/net/peers/mbedtls_server.c, and the EST
client of tests/est/peers/),
built once per test module with gcc against Debian's libmbedtls-dev; tests
that need it skip with a reason where either is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent / "net" / "peers" / "mbedtls_server.c"


def build_mbedtls_server(directory: Path) -> Path:
    return build_mbedtls_program(SOURCE, directory)


def build_mbedtls_program(source: Path, directory: Path) -> Path:
    """gcc SOURCE against Debian's mbedTLS into DIRECTORY; a skip where either is missing."""
    if shutil.which("gcc") is None or not Path("/usr/include/mbedtls/ssl.h").exists():
        pytest.skip("needs gcc and Debian's libmbedtls-dev (apt-get install libmbedtls-dev)")
    binary = directory / source.stem
    build = subprocess.run(
        ["gcc", "-o", str(binary), str(source), "-lmbedtls", "-lmbedx509", "-lmbedcrypto"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build the mbedTLS peer: {build.stderr.strip()[:300]}")
    return binary
