"""Fixtures for the `wsctl certs` CLI tests: an initialised store and a runner bound to it."""

from __future__ import annotations

import pytest
from cli_helpers import STORE_PASS, run_wsctl


class Wsctl:
    def __init__(self, store_dir, environ):
        self.store_dir = store_dir
        self.environ = environ

    def __call__(self, *args, **environ):
        return run_wsctl(*args, environ={**self.environ, **environ})

    def certs(self, *args, **environ):
        return self("certs", "--dir", self.store_dir, *args, **environ)


@pytest.fixture
def wsctl(tmp_path):
    return Wsctl(tmp_path / "certs", {"WSCTL_PASSWORD": STORE_PASS})


@pytest.fixture
def pki(wsctl):
    result = wsctl.certs("init", "--name", "Test Plant")
    assert result.code == 0, result.err
    return wsctl
