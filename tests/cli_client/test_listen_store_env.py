"""`serve`/`hub --cert/--key`: the files typed on the command line win over a
store that only came from the environment ($WSCTL_CERTS), which the certs docs
recommend setting."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

from client_helpers import PASSWORD, start_server, wsctl_in_process

from wsctl.core.exit_table import ExitCode


def _files(plant) -> list[str]:
    dev = plant.certs / "devices" / "dev"
    return ["--cert", str(dev / "chain.pem"), "--key", str(dev / "key.pem")]


def test_serve_with_cert_and_key_ignores_the_store_from_the_environment(plant):
    server = start_server("--echo", *_files(plant), env={"WSCTL_CERTS": str(plant.certs)})
    try:
        assert server.first["event"] == "listening" and server.first["client_auth"] == "none"
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.communicate(timeout=10)


def test_a_store_typed_next_to_cert_and_key_is_still_refused(plant):
    out = wsctl_in_process(
        "--json", "serve", "--echo", "--certs", str(plant.certs), *_files(plant), "--listen", "127.0.0.1:0"
    )
    assert out.returncode == ExitCode.USAGE
    assert "--certs and --device go together" in json.loads(out.stderr)["message"]


def test_hub_with_cert_and_key_ignores_the_store_from_the_environment(plant, tmp_path):
    args = ["--json", "hub", "--listen", "127.0.0.1:0", "--registry", str(tmp_path / "hub.db"), *_files(plant)]
    args += ["--ca", str(plant.certs / "ca" / "root.crt")]
    env = {**os.environ, "WSCTL_PASSWORD": PASSWORD, "WSCTL_CERTS": str(plant.certs)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else ""
        assert line, proc.stderr.read() if proc.poll() is not None else "the hub printed nothing"
        assert json.loads(line)["event"] == "listening"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
