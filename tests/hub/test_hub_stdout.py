"""`wsctl hub` goes on serving devices and operators while nobody reads its stdout.

Its access lines fill a one-page pipe after a few connections; before, the
next line blocked the hub's event loop (wsctl.cli.support.server_output).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

from cli_runner import run_subprocess
from pipe_helpers import PAGE, plain_http_knock, read_all, shrunk_pipe

from wsctl.core.exit_table import ExitCode


def test_hub_serves_while_its_stdout_is_not_read(hub_pki, tmp_path):
    registry = str(tmp_path / "hub.db")
    assert (
        run_subprocess("hub", "devices", "add", "CP-1", "--profile", "ocpp16", "--registry", registry).returncode == 0
    )
    read_end, write_end = shrunk_pipe()
    hub = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "hub", "--listen", "127.0.0.1:0"]
        + ["--certs", str(hub_pki.store.path), "--device", "hub", "--registry", registry],
        stdout=write_end,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        assert select.select([read_end], [], [], 30)[0], "no listening line"
        first = json.loads(os.read(read_end, PAGE).split(b"\n")[0])
        port = int(first["url"].rsplit(":", 1)[1].split("/")[0])
        for _ in range(60):  # each logged: ~6 times what the pipe holds
            plain_http_knock(port)
        plain_http_knock(port)  # still answered
        hub.send_signal(signal.SIGTERM)
        rest = read_all(read_end)
        hub.wait(timeout=20)
    finally:
        if hub.poll() is None:
            hub.kill()
        os.close(read_end)
    assert hub.returncode == ExitCode.TERMINATED
    lines = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert sum(1 for line in lines if line.get("outcome") == "tls-failed") >= 60
