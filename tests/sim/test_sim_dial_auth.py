"""`serve --dial` with OCPP security profile 2 credentials (issue 8, item 10):
userinfo in the URL or --basic-auth becomes HTTP Basic auth, --header reaches
the central system, and the password is printed nowhere."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from sim_central import CentralSystem, recv_json


async def auth_session(ws, n):
    headers = {"authorization": ws.request.headers.get("Authorization"), "x-site": ws.request.headers.get("X-Site")}
    boot = await recv_json(ws)
    await ws.send(
        json.dumps([3, boot[1], {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}])
    )
    await ws.close(1000)
    return headers


def _dial(sim_pki, url: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wsctl",
            "--json",
            "serve",
            "--profile",
            "ocpp16-charger",
            "--dial",
            url,
            "--certs",
            str(sim_pki.store.path),
            "--device",
            "plc",
            "--redial",
            "0",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_dial_sends_url_userinfo_as_basic_auth_and_never_prints_it(sim_pki):
    central = CentralSystem(sim_pki, auth_session).start()
    try:
        out = _dial(
            sim_pki, f"wss://CP-7:s3cret-key-0123456789@localhost:{central.port}/ocpp/CP-7", "--header", "X-Site: north"
        )
        assert central.wait(10)
    finally:
        central.stop()
    assert out.returncode == 0, out.stderr
    (headers,) = central.results
    assert headers == {"authorization": _basic("CP-7", "s3cret-key-0123456789"), "x-site": "north"}
    assert "s3cret" not in out.stdout + out.stderr
    dialing = json.loads(out.stdout.splitlines()[0])
    assert dialing["event"] == "dialing" and dialing["url"] == f"wss://CP-7@localhost:{central.port}/ocpp/CP-7"


def test_dial_basic_auth_password_from_the_environment(sim_pki):
    central = CentralSystem(sim_pki, auth_session).start()
    try:
        out = _dial(
            sim_pki,
            f"wss://localhost:{central.port}/ocpp/CP-8",
            "--basic-auth",
            "CP-8",
            env={"WSCTL_BASIC_AUTH_PASSWORD": "another-secret-0123"},
        )
        assert central.wait(10)
    finally:
        central.stop()
    assert out.returncode == 0, out.stderr
    assert central.results[0]["authorization"] == _basic("CP-8", "another-secret-0123")
    assert "another-secret" not in out.stdout + out.stderr


def test_header_and_basic_auth_need_dial(sim_pki):
    out = subprocess.run(
        [sys.executable, "-m", "wsctl", "serve", "--echo", "--header", "X: y"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "--dial" in out.stderr
