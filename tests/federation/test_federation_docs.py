"""docs/federation.md's first federation, run as a new user pastes it: one
bash script, the fixed ports replaced by free ones, every background process
stopped at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from federation_helpers import DOC, free_ports, need


def test_the_first_federation_runs_as_written(tmp_path):
    for binary in ("mosquitto", "mosquitto_sub"):
        need(binary)
    section = DOC.read_text().split("## A first federation on one machine", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    ports = dict(zip(("8883", "8441", "8442"), map(str, free_ports(3)), strict=True))
    script = block
    for old, new in ports.items():
        for shape in (":{}", "listener {} ", "-p {} "):
            script = script.replace(shape.format(old), shape.format(new))
    lines = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for line in script.replace("\\\n", " ").splitlines():
        lines.append(line)
        listening = re.search(r"(?:listen 127\.0\.0\.1:|^mosquitto .*)(\d+)?", line)
        if line.rstrip().endswith("&") and listening:
            port = ports["8883"] if line.startswith("mosquitto") else line.split("--listen 127.0.0.1:")[1].split()[0]
            # a person typing the next line gives the server this time
            lines.append(
                f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done"
            )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", ""), "/usr/sbin"])
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
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-6000:])
    assert "Traceback" not in run.stderr
    assert '"device":"CP-17","online":true,"hub":"hub-a"' in run.stdout, run.stdout[-2000:]
    assert '"status": "Accepted"' in run.stdout or "Accepted" in run.stdout
    audit = run.stdout.rsplit("Accepted", 1)[1]
    assert re.search(r"alice +engineer +CP-17 +reset .* ok", audit), run.stdout[-2000:]
