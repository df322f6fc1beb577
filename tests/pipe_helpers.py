"""Pipes for tests of servers whose stdout is not read: one page long, read with a deadline."""

from __future__ import annotations

import fcntl
import os
import select
import socket

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
