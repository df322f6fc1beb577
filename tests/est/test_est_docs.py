"""docs/enrollment.md's EST session, run as a new user pastes it: every ```sh block of
the "## EST" section in order, as one bash script, the port replaced by a free one,
the background server stopped at the end."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "enrollment.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_est_session_runs_as_written(tmp_path):
    section = DOC.read_text().split("\n## EST\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 6
    port = str(free_port())
    lines = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for line in "".join(blocks).replace(":9443", f":{port}").replace("\\\n", " ").splitlines():
        lines.append(line)
        if line.split("#")[0].rstrip().endswith("&"):
            # a person typing the next line gives the server this time
            lines.append(
                f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done"
            )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    environ["HOME"] = str(tmp_path)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    assert "DNS:plc-18.plant.local, IP Address:10.0.0.18, URI:urn:wsctl:device:plc-18" in run.stdout
    assert "anything.example" not in run.stdout
    assert "\n202\n" in run.stdout
    assert re.search(r"plc-18 .*superseded", run.stdout), run.stdout[-2000:]
    for name in ("cam-7.pem", "carol.pem", "plc-18.new.pem", "cacerts.pem"):
        assert "BEGIN CERTIFICATE" in (tmp_path / name).read_text()
