"""`wsctl hub` goes on serving devices and operators while nobody reads its stdout.

Its access lines fill a one-page pipe after a few connections; before, the
next line blocked the hub's event loop (wsctl.cli.support.server_output).
"""

from __future__ import annotations

from cli_runner import run_subprocess
from pipe_helpers import UnreadServer, plain_http_knock

from wsctl.core.exit_table import ExitCode


def test_hub_serves_while_its_stdout_is_not_read(hub_pki, tmp_path):
    registry = str(tmp_path / "hub.db")
    added = run_subprocess("hub", "devices", "add", "CP-1", "--profile", "ocpp16", "--registry", registry)
    assert added.returncode == 0, added.stderr
    args = ["hub", "--listen", "127.0.0.1:0", "--certs", str(hub_pki.store.path), "--device", "hub"]
    with UnreadServer(*args, "--registry", registry) as hub:
        port = int(hub.first["url"].rsplit(":", 1)[1].split("/")[0])
        for _ in range(60):  # each logged: ~6 times what the pipe holds
            plain_http_knock(port)
        plain_http_knock(port)  # still answered
        lines = hub.stop()
    assert hub.proc.returncode == ExitCode.TERMINATED
    assert sum(1 for line in lines if line.get("outcome") == "tls-failed") >= 60
