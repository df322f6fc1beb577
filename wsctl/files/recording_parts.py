"""A recording's files: the name of each part, how a part is opened, our certificate's fingerprint."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import BinaryIO

from wsctl.core.known_devices import certificate_fingerprint as der_fingerprint

PathLike = str | os.PathLike[str]


def open_part(path: str) -> BinaryIO:
    """A part file for writing: created (or truncated) 0600, unbuffered."""
    # unbuffered: every write() is a system call, so nothing waits in Python.
    # 0600: a recording holds what the machine and its operators said, tokens
    # and set-points included (redaction covers what the user thought of)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode only applies to a new file: an old 0644 one is tightened too
    os.fchmod(fd, 0o600)
    return open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by RecordingFile.close


def part_path(path: PathLike, part: int) -> str:
    """FILE for part 0, FILE.n for the n-th rotated part."""
    return os.fspath(path) if part == 0 else f"{os.fspath(path)}.{part}"


def certificate_fingerprint(pem_path: PathLike | None) -> str | None:
    """``sha256:<hex>`` of the first certificate in a PEM file (our own client certificate)."""
    if not pem_path:
        return None
    try:
        text = Path(pem_path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    end = "-----END CERTIFICATE-----"
    start = text.find("-----BEGIN CERTIFICATE-----")
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return None
    body = text[start + len("-----BEGIN CERTIFICATE-----") : stop]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der_fingerprint(der)
