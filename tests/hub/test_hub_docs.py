"""docs/hub.md's first session, run as a new user pastes it: one bash script,
the fixed port replaced by a free one, every background server stopped at the
end."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "hub.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_section(tmp_path, heading: str) -> subprocess.CompletedProcess:
    """The first ```sh block of docs/hub.md's section HEADING, run by bash in tmp_path."""
    section = DOC.read_text().split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)[:1]
    port = str(free_port())
    script = block.replace(":8443", f":{port}")
    lines = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for line in script.replace("\\\n", " ").splitlines():
        lines.append(line)
        if line.split("#")[0].rstrip().endswith("&") and f"--listen 127.0.0.1:{port}" in line:
            # a person typing the next line gives the hub this time
            lines.append(
                f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done"
            )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    environ["HOME"] = str(tmp_path)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_hub_first_session_runs_as_written(tmp_path):
    run = run_section(tmp_path, "A first session")
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    assert "exit 9: an observer may not reset" in run.stdout
    assert re.search(r"CP-17 +approved +online .* 1\.4\.2", run.stdout), run.stdout[-2000:]


def test_managing_devices_runs_as_written(tmp_path):
    section = DOC.read_text().split("## Managing devices", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "will not be shown again" in run.stdout + run.stderr
    secret = (tmp_path / "cp19.secret").read_text().strip()
    assert secret not in run.stdout + run.stderr
    assert "CP-31" in run.stdout
