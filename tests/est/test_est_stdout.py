"""`wsctl certs est` goes on answering while nobody reads its stdout (its request lines).

A one-page pipe under stdout fills after a few request lines; before, the next
line blocked the server's event loop (wsctl.cli.support.server_output).
"""

from __future__ import annotations

from est_helpers import PW
from pipe_helpers import UnreadServer, plain_http_knock

from wsctl.core.exit_table import ExitCode


def test_est_answers_while_its_stdout_is_not_read(plant):
    env = {"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)}
    with UnreadServer("certs", "est", "--device", "est", "--listen", "127.0.0.1:0", env=env) as server:
        assert server.first["event"] == "listening", server.first
        for _ in range(80):  # each logged as a request: several times what the pipe holds
            plain_http_knock(server.first["port"])
        lines = server.stop()
    assert server.proc.returncode == ExitCode.TERMINATED, server.proc.stderr.read()
    assert len([line for line in lines if line["event"] == "request"]) >= 79
