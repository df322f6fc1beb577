"""`wsctl certs est` goes on answering while nobody reads its stdout (its request lines).

A one-page pipe under stdout fills after a few request lines; before, the next
line blocked the server's event loop (wsctl.cli.support.server_output).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

from est_helpers import PW
from pipe_helpers import PAGE, plain_http_knock, read_all, shrunk_pipe

from wsctl.core.exit_table import ExitCode


def test_est_answers_while_its_stdout_is_not_read(plant):
    read_end, write_end = shrunk_pipe()
    server = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "--json", "certs", "est", "--device", "est", "--listen", "127.0.0.1:0"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env={**os.environ, "WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)},
    )
    os.close(write_end)
    try:
        assert select.select([read_end], [], [], 30)[0], "no listening line"
        first = json.loads(os.read(read_end, PAGE).split(b"\n")[0])
        assert first["event"] == "listening", first
        for _ in range(80):  # each logged as a request: several times what the pipe holds
            plain_http_knock(first["port"])
        server.send_signal(signal.SIGTERM)
        rest = read_all(read_end)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
        os.close(read_end)
    assert server.returncode == ExitCode.TERMINATED, server.stderr.read()
    lines = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert len([line for line in lines if line["event"] == "request"]) >= 79
