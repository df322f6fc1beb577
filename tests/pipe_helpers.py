"""Servers whose stdout is not read: a pipe one page long under it, read with a deadline."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys

PAGE = 4096


def shrunk_pipe() -> tuple[int, int]:
    """A pipe that holds one page: a few access lines fill it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PAGE)
    return read_end, write_end


def read_all(fd: int) -> bytes:
    """Everything until EOF, or until nothing came for 10 s."""
    chunks = []
    while select.select([fd], [], [], 10)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def plain_http_knock(port: int) -> None:
    """A connection the server answers at once and logs (plain HTTP on the TLS port)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(100)  # its answer or its close; a server that stopped raises socket.timeout


class UnreadServer:
    """``python -m wsctl --json ARGS``, a server whose stdout is a one-page pipe nobody
    reads until `stop`; ``first`` is its listening line.  A context manager: leaving
    it kills a server still running."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:

        self.read_end, write_end = shrunk_pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsctl", "--json", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        os.close(write_end)
        assert select.select([self.read_end], [], [], 30)[0], "no listening line"
        self.first = json.loads(os.read(self.read_end, PAGE).split(b"\n")[0])

    def stop(self) -> list[dict]:
        """SIGTERM, then read what it wrote (reading lets the buffered lines through): its JSON lines."""

        self.proc.send_signal(signal.SIGTERM)
        rest = read_all(self.read_end)
        self.proc.wait(timeout=20)
        return [json.loads(line) for line in rest.splitlines() if line.strip()]

    def __enter__(self) -> UnreadServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        os.close(self.read_end)
