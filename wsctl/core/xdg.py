"""Where wsctl keeps a user's files: one rule for every one of them (profiles,
config.toml, inventory.toml, known_devices).

XDG Base Directory: ``$XDG_CONFIG_HOME/wsctl`` when that is an absolute path (a
relative one is invalid by the specification and ignored), else
``$HOME/.config/wsctl``; on Windows without either, ``%APPDATA%\\wsctl``.  Pure:
the caller passes the environment (and so decides which one counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath, PurePosixPath, PureWindowsPath


def config_dir(environ: Mapping[str, str], *, windows: bool = False) -> PurePath:
    """wsctl's configuration directory for ``environ``."""
    base = environ.get("XDG_CONFIG_HOME") or ""
    if base and (PureWindowsPath(base).is_absolute() if windows else PurePosixPath(base).is_absolute()):
        return PurePath(base) / "wsctl"
    if windows and environ.get("APPDATA"):
        return PurePath(environ["APPDATA"]) / "wsctl"
    return PurePath(environ.get("HOME") or "~") / ".config" / "wsctl"
