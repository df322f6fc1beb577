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


def device_context(plant: Plant, *, leaf_only: bool = False, client_auth: bool = True):
    """A server SSLContext with the plant's device certificate `dev` (its chain,
    or only its leaf), requiring client certificates from the plant's root."""
    import ssl

    dev = plant.certs / "devices" / "dev"
    if client_auth:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(plant.certs / "ca" / "root.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(dev / ("cert.pem" if leaf_only else "chain.pem"), dev / "key.pem", password=PASSWORD)
    return ctx


class WebsocketsDevice:
    """A python-websockets (asyncio) device in its own thread: an independent peer.

    ``with WebsocketsDevice(handler, ctx, **serve_kwargs) as port:`` serves on
    127.0.0.1 until the block ends; every wait is bounded.
    """

    def __init__(self, handler, ssl_context, **serve_kwargs) -> None:
        import threading

        self.handler, self.ssl_context, self.serve_kwargs = handler, ssl_context, serve_kwargs
        self.state: dict = {}
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import asyncio

        from websockets.asyncio.server import serve

        async def main():
            async with serve(self.handler, "127.0.0.1", 0, ssl=self.ssl_context, **self.serve_kwargs) as srv:
                self.state["port"] = srv.sockets[0].getsockname()[1]
                self.state["loop"] = asyncio.get_running_loop()
                self.state["stop"] = asyncio.Event()
                self.started.set()
                await self.state["stop"].wait()

        asyncio.run(main())

    def __enter__(self) -> int:
        self.thread.start()
        assert self.started.wait(10), "the python-websockets device did not start"
        return self.state["port"]

    def __exit__(self, *exc) -> None:
        self.state["loop"].call_soon_threadsafe(self.state["stop"].set)
        self.thread.join(10)
