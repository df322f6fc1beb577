"""Two real `wsctl certs init` processes at once: exactly one creates the CA."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import STORE_PASS

TIMEOUT = 60.0


def _has_open(pid: int, path: Path) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False  # the process or one of its descriptors went away while we looked


def test_two_concurrent_inits_one_wins(tmp_path):
    store = tmp_path / "certs"
    store.mkdir(mode=0o700)
    lock = store / ".lock"
    env = {"WSCTL_PASSWORD": STORE_PASS, "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "wsctl", "certs", "--dir", str(store), "init", "--name", "Race Plant"]
    # hold the store lock until both runs are at it, so they really overlap: before the fix
    # both had already found "no CA" by then, and both wrote one
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(_has_open(p.pid, lock) for p in procs):
            assert time.monotonic() < deadline, "the init runs never reached the store lock"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.02)
    finally:
        os.close(holder)
    results = [p.communicate(timeout=TIMEOUT) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], results
    loser_err = next(err for (out, err), p in zip(results, procs, strict=True) if p.returncode == 1)
    assert loser_err.startswith("wsctl: error: a CA already exists in ")
    assert "Traceback" not in loser_err
    lines = (store / "audit.log").read_text().splitlines()
    assert [('"result": "ok"' in line) for line in lines].count(True) == 1 and len(lines) == 2
