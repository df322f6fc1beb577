"""Helpers for the record/replay tests: a PKI made by `wsctl certs`, `wsctl`
processes (servers on port 0, verbs run as users run them), and in-process TLS
material for trio tests.  Every wait is bounded."""

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

PASSWORD = "record-test-pass"


def wsctl(*args: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    return run_subprocess(*args, timeout=timeout, input=input, env={"WSCTL_PASSWORD": PASSWORD})


@dataclass
class Plant:
    certs: Path

    def op(self, name: str = "alice") -> list[str]:
        return ["--certs", str(self.certs), "--operator", name]

    def leaf(self, kind: str, name: str) -> tuple[str, str]:
        base = self.certs / kind / name
        return str(base / "chain.pem"), str(base / "key.pem")

    @property
    def root(self) -> str:
        return str(self.certs / "ca" / "root.crt")

    def client_kwargs(self, name: str = "alice") -> dict:
        cert, key = self.leaf("operators", name)
        return {"ca": self.root, "cert": cert, "key": key, "password": PASSWORD}

    def server_kwargs(self, name: str = "dev") -> dict:
        cert, key = self.leaf("devices", name)
        return {"cert_chain": cert, "key": key, "password": PASSWORD, "ca": self.root, "client_auth": "required"}


def make_plant(base: Path) -> Plant:
    certs = base / "certs"
    for step in (
        ["init", "--name", "Record Test CA"],
        ["issue", "device", "dev", "--dns", "localhost", "--ip", "127.0.0.1"],
        ["issue", "operator", "alice", "--role", "engineer"],
        ["issue", "operator", "bob", "--role", "operator"],
    ):
        out = run_in_process("certs", "--dir", str(certs), *step, environ={**os.environ, "WSCTL_PASSWORD": PASSWORD})
        assert out.returncode == 0, (step, out.stderr)
    return Plant(certs)


class Process:
    """A long-running wsctl verb whose first stdout line is a JSON object."""

    def __init__(self, *args: str, timeout: float = 20.0) -> None:
        env = {**os.environ, "WSCTL_PASSWORD": PASSWORD}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsctl", "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise AssertionError("process printed nothing in time")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"process exited: {self.proc.stderr.read()}")
        self.first = json.loads(line)
        self.url: str = self.first.get("url", "")
        self.read: list[dict] = []  # lines after the first taken by `wait_for_line`

    async def wait_for_line(self, event: str, timeout: float = 10.0) -> dict:
        """Read stdout (bounded) up to the line whose "event" is EVENT: a wait for
        the side effect instead of a sleep.  `stop` still returns every line."""
        import trio

        with trio.fail_after(timeout):
            while True:
                line = await trio.to_thread.run_sync(self.proc.stdout.readline, abandon_on_cancel=True)
                if not line:
                    raise AssertionError(f"process ended before printing {event!r}")
                doc = json.loads(line)
                self.read.append(doc)
                if doc.get("event") == event:
                    return doc

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, list[dict], str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self.read + [json.loads(line) for line in out.splitlines() if line.strip()], err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def echo_server(plant: Plant) -> Process:
    return Process("serve", "--echo", "--listen", "127.0.0.1:0", "--certs", str(plant.certs), "--device", "dev")


async def recorded(path: Path, predicate, *, count: int = 1, timeout: float = 10) -> list:
    """The events of the recording at PATH once COUNT of them satisfy PREDICATE
    (the writer flushes every line): a bounded wait instead of a sleep."""
    import trio

    from wsctl.files.recording_reader import open_recording

    with trio.fail_after(timeout):
        while True:
            events = list(open_recording(path)) if path.exists() else []
            if sum(1 for e in events if predicate(e)) >= count:
                return events
            await trio.sleep(0.01)
