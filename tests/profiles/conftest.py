"""Fixtures for the profile tests: a sandbox with its own ./profiles and
config directory, so discovery never sees the developer's own files."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox(tmp_path):
    """(cwd, environ) where ./profiles and the XDG config dir are empty and private."""
    cwd = tmp_path / "work"
    (cwd / "profiles").mkdir(parents=True)
    config = tmp_path / "config"
    (config / "wsctl" / "profiles").mkdir(parents=True)
    environ = {"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path / "home")}
    return cwd, environ
