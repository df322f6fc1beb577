"""Running wsctl on a real terminal (a pty) in tests; every wait is bounded."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time


def read_for(fd: int, seconds: float) -> bytes:
    """Everything the terminal shows during ``seconds``."""
    seen, deadline = b"", time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """What the terminal shows up to and including ``needle``, or fail after ``timeout``."""
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen; got {seen[-800:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def spawn(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """``python -m wsctl ARGS`` with a pty as its terminal: (process, the pty's master fd)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    return proc, master


def run_in_pty(
    args: list[str], env: dict[str, str], *, timeout: float = 60, interrupt_after: float | None = None
) -> tuple[int, bytes]:
    """Run to the end (SIGINT after ``interrupt_after`` seconds if given): (exit code, all output)."""
    proc, master = spawn(args, env)
    seen, start = b"", time.monotonic()
    try:
        while True:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"no end within the bound: {seen[-400:]!r}")
            if interrupt_after is not None and time.monotonic() - start > interrupt_after and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                interrupt_after = None
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
