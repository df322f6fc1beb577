"""Helpers for the client/server verb tests: a PKI made by `wsctl certs`, real
`wsctl serve` processes on port 0, and a helper that runs wsctl as users do.

Every wait is bounded: subprocesses have timeouts, reading the server's first
line has a deadline.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cli_runner import run_in_process, run_subprocess

PASSWORD = "demo-passphrase"


def wsctl(
    *args: str, cwd: Path | None = None, input: str | None = None, timeout: float = 60, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m wsctl ARGS` with the plant's passphrase."""
    return run_subprocess(*args, cwd=cwd, input=input, timeout=timeout, env={"WSCTL_PASSWORD": PASSWORD, **(env or {})})


def wsctl_in_process(*args: str, input: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """`wsctl ARGS` in this process, same environment as `wsctl`: for verbs whose
    test is about what they print and return, not about being a process."""
    return run_in_process(*args, input=input, environ={**os.environ, "WSCTL_PASSWORD": PASSWORD, **(env or {})})


@dataclass
class Plant:
    dir: Path
    certs: Path

    def op(self, name: str) -> list[str]:
        return ["--certs", str(self.certs), "--operator", name]


class ServerProcess:
    def __init__(self, proc: subprocess.Popen, first: dict) -> None:
        self.proc = proc
        self.url: str = first["url"]
        self.first = first

    def lines(self, timeout: float = 10.0) -> list[dict]:
        """Stop the server (SIGTERM) and return its JSON lines after the first."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def start_server(*args: str, env: dict | None = None, timeout: float = 20.0) -> ServerProcess:
    full_env = {**os.environ, "WSCTL_PASSWORD": PASSWORD, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError("server did not print its URL in time")
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read()
        proc.wait(timeout=5)
        raise AssertionError(f"server exited: {err}")
    return ServerProcess(proc, json.loads(line))
