"""Fixtures for the client/server verbs: a PKI made by `wsctl certs`, real
`wsctl serve` processes on port 0.  Helpers live in client_helpers.py."""

from __future__ import annotations

import pytest

from client_helpers import Plant, start_server, wsctl


@pytest.fixture(scope="session")
def plant(tmp_path_factory) -> Plant:
    base = tmp_path_factory.mktemp("plant")
    certs = base / "certs"
    steps = [
        ["init", "--name", "Test Plant CA"],
        ["issue", "device", "dev", "--dns", "localhost", "--ip", "127.0.0.1"],
        ["issue", "operator", "alice", "--role", "engineer"],
        ["issue", "operator", "bob", "--role", "observer", "--no-password"],
        ["issue", "operator", "mallory", "--role", "operator"],
        ["revoke", "mallory", "--reason", "key-compromise"],
    ]
    for step in steps:
        out = wsctl("certs", "--dir", str(certs), *step)
        assert out.returncode == 0, (step, out.stderr)
    return Plant(base, certs)


@pytest.fixture
def echo_server(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=10)
