"""The known-devices file: trust on first use, like ssh's known_hosts.

Pure logic only (parse, decide, serialize); reading and writing the file is
`wsctl.net.trust`'s job.  Format, one entry a line::

    # comments and blank lines are kept as they are
    plc-17.plant.example:443 sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    [fd00::17]:8443 sha256:...   optional trailing comment

The key is ``host:port`` exactly as the URL names the device (lower-cased host,
IPv6 in brackets), so the same device reached by name and by address has two
entries, as with ssh.  The fingerprint is SHA-256 over the DER certificate.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import NamedTuple

from wsctl.core.errors import InvalidInput, TLSError

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as ``sha256:<lower-case hex>``: the one form wsctl prints,
    pins (`--pin`), records and compares (`normalize_fingerprint` reads the others)."""
    import hashlib

    return "sha256:" + hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str:
    """``sha256:<64 lower-case hex>`` from the forms people paste.

    Accepts ``sha256:AB:CD:..``, ``SHA256=abcd..``, or the bare hex.
    """
    raw = text.strip()
    low = raw.lower()
    for prefix in ("sha256:", "sha256=", "sha-256:"):
        if low.startswith(prefix):
            low = low[len(prefix) :]
            break
    hexpart = low.replace(":", "").replace(" ", "")
    if not _HEX64.match(hexpart):
        raise InvalidInput(f"not a SHA-256 fingerprint: {raw!r} (expected sha256:<64 hex digits>)")
    return "sha256:" + hexpart


def device_key(host: str, port: int) -> str:
    host = host.lower().strip("[]")
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


class KnownDevices:
    """The parsed file.  ``lines`` keeps comments and order for a faithful rewrite."""

    __slots__ = ("lines", "entries")

    def __init__(self) -> None:  # a plain class: a dataclass costs ~0.3 ms of every client's start-up
        self.lines: list[str] = []
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def set(self, key: str, fingerprint: str) -> None:
        """Trust ``fingerprint`` for ``key``: the key's first line is rewritten
        and any later line for it dropped, so the file says one thing (the
        reader takes a key's last line: a stale duplicate would win)."""
        fingerprint = normalize_fingerprint(fingerprint)
        new_line = f"{key} {fingerprint}"
        kept: list[str] = []
        replaced = False
        for line in self.lines:
            fields = line.split()
            if fields and not line.lstrip().startswith("#") and fields[0] == key:
                if replaced:
                    continue
                line, replaced = new_line, True
            kept.append(line)
        if not replaced:
            kept.append(new_line)
        self.lines = kept
        self.entries[key] = fingerprint


def parse(text: str | bytes, *, source: str = "known-devices file") -> KnownDevices:
    """The file's content (bytes as read, or text); InvalidInput naming the
    line for anything that is not an entry, a comment or blank."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                hint="the file holds host:port sha256:<hex> lines; fix or remove the damaged line",
            ) from None
    known = KnownDevices()
    for lineno, line in enumerate(text.splitlines(), 1):
        known.lines.append(line)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 2:
            raise InvalidInput(f"{source}:{lineno}: expected 'host:port sha256:<hex>'")
        key, fp = fields[0], fields[1]
        if not re.match(r"^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d+$", key):
            raise InvalidInput(f"{source}:{lineno}: {key!r} is not host:port")
        try:
            known.entries[key] = normalize_fingerprint(fp)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}:{lineno}: {exc}") from None
    return known


def serialize(known: KnownDevices) -> str:
    return "".join(line + "\n" for line in known.lines)


class Decision(NamedTuple):  # not a frozen dataclass: cheaper to build at import
    """What to do with a device's certificate.

    ``action``: ``"known"`` (matches, nothing to write), ``"record"`` (first
    use, write it), ``"replace"`` (changed and ``trust_new`` given, write it).
    A changed certificate without ``trust_new`` is not a decision: it raises.
    """

    action: str
    key: str
    fingerprint: str
    previous: str | None = None

    @property
    def must_write(self) -> bool:
        return self.action in ("record", "replace")


def decide(
    known: KnownDevices, key: str, fingerprint: str, *, trust_new: bool = False, source: str = "known-devices file"
) -> Decision:
    fingerprint = normalize_fingerprint(fingerprint)
    previous = known.get(key)
    if previous is None:
        return Decision("record", key, fingerprint)
    if previous == fingerprint:
        return Decision("known", key, fingerprint, previous)
    if trust_new:
        return Decision("replace", key, fingerprint, previous)
    raise TLSError(
        f"certificate of {key} changed: known {previous}, now presented {fingerprint}",
        hint=f"if the device was re-provisioned, accept it with --trust-new (updates {source})",
    )


def default_path(env: Mapping[str, str] | None = None) -> PurePath:
    """``$WSCTL_KNOWN_DEVICES``, else ``$XDG_CONFIG_HOME/wsctl/known_devices``,
    else ``~/.config/wsctl/known_devices`` (``%APPDATA%`` on Windows)."""
    from wsctl.core.xdg import config_dir

    env = os.environ if env is None else env
    if env.get("WSCTL_KNOWN_DEVICES"):
        return PurePath(env["WSCTL_KNOWN_DEVICES"])
    return config_dir(env, windows=os.name == "nt") / "known_devices"
