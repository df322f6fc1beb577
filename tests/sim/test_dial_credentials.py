"""What `serve --dial` dials with (issue 11): the *device* certificate
(`--device NAME`, security profile 3), or TLS without a client certificate plus
HTTP Basic with user = the device id (`--security-profile 2`); an operator's
certificate is refused with a usage error, and the Basic password is printed and
logged nowhere."""

from __future__ import annotations

import base64
import json
import logging

from cli_runner import run_in_process
from sim_central import CentralSystem, recv_json

from wsctl.core.exit_table import ExitCode
from wsctl.pki.identity import peer_identity

SECRET = "dial-secret-0123456789abcdef"


async def boot_then_close(ws, n):
    boot = await recv_json(ws)
    await ws.send(
        json.dumps([3, boot[1], {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}])
    )
    await ws.close(1000)
    return {"authorization": ws.request.headers.get("Authorization"), "boot": boot[2]}


def _dial(sim_pki, url, *extra, environ=None):
    return run_in_process(
        "--json",
        "-v",
        "serve",
        "--profile",
        "ocpp16-charger",
        "--dial",
        url,
        "--certs",
        str(sim_pki.store.path),
        "--redial",
        "0",
        *extra,
        environ=environ or {},
    )


def test_dial_presents_the_device_certificate(sim_pki):
    central = CentralSystem(sim_pki, boot_then_close).start()
    try:
        out = _dial(sim_pki, f"wss://localhost:{central.port}/ocpp/plc", "--device", "plc")
        assert central.wait(10)
    finally:
        central.stop()
    assert out.returncode == 0, out.stderr
    (der,) = central.peer_certs
    ident = peer_identity(der)
    assert (ident.kind, ident.name, ident.role) == ("device", "plc", None)
    assert central.results[0] == {"authorization": None, "boot": "BootNotification"}
    assert "names device" not in out.stderr  # the path's id is the certificate's: no mismatch warning
    assert json.loads(out.stdout.splitlines()[0])["security_profile"] == 3


def test_dial_warns_when_the_certificate_names_another_device(sim_pki):
    central = CentralSystem(sim_pki, boot_then_close).start()
    try:
        out = _dial(sim_pki, f"wss://localhost:{central.port}/ocpp/CP-9", "--device", "plc")
        assert central.wait(10)
    finally:
        central.stop()
    assert out.returncode == 0, out.stderr
    assert "certificate names device plc, the URL CP-9" in out.stderr


def test_dial_refuses_an_operator_certificate_and_a_missing_device_certificate(sim_pki):
    out = _dial(sim_pki, "wss://127.0.0.1:1/ocpp/CP-1", "--operator", "alice")
    assert out.returncode == ExitCode.USAGE and "--device NAME" in out.stderr and "Traceback" not in out.stderr
    out = _dial(sim_pki, "wss://127.0.0.1:1/ocpp/CP-1")
    assert out.returncode == ExitCode.USAGE and "--device NAME" in out.stderr and "--security-profile 2" in out.stderr
    out = _dial(sim_pki, "wss://127.0.0.1:1/ocpp/CP-1", "--device", "nobody")
    assert out.returncode == ExitCode.INVALID and "no device 'nobody'" in out.stderr


def test_security_profile_2_sends_basic_auth_as_the_device_and_no_certificate(sim_pki, tmp_path, caplog):
    secret_file = tmp_path / "cp-8.secret"
    secret_file.write_text(SECRET + "\n")
    central = CentralSystem(sim_pki, boot_then_close, sessions=2, client_cert=False).start()
    caplog.set_level(logging.DEBUG)
    try:
        base = f"wss://localhost:{central.port}/ocpp"
        # user = the URL's last path segment, password from a file
        by_path = _dial(
            sim_pki, f"{base}/CP-8", "--security-profile", "2", "--basic-auth-password-file", str(secret_file)
        )
        # user = --device, password from the environment
        by_device = _dial(
            sim_pki,
            f"{base}/CP-8",
            "--security-profile",
            "2",
            "--device",
            "CP-8",
            environ={"WSCTL_BASIC_AUTH_PASSWORD": SECRET},
        )
        assert central.wait(10)
    finally:
        central.stop()
    for out in (by_path, by_device):
        assert out.returncode == 0, out.stderr
        assert SECRET not in out.stdout + out.stderr
        assert json.loads(out.stdout.splitlines()[0])["security_profile"] == 2
    expected = "Basic " + base64.b64encode(f"CP-8:{SECRET}".encode()).decode()
    assert [r["authorization"] for r in central.results] == [expected, expected]
    assert central.peer_certs == [None, None]
    assert caplog.records and SECRET not in caplog.text


def test_security_profile_2_usage_errors(sim_pki, tmp_path):
    out = _dial(
        sim_pki,
        "wss://127.0.0.1:1/ocpp/CP-1",
        "--security-profile",
        "2",
        "--cert",
        str(sim_pki.device.chain),
        "--key",
        str(sim_pki.device.key),
    )
    assert out.returncode == ExitCode.USAGE and "without a client certificate" in out.stderr
    out = _dial(sim_pki, "wss://127.0.0.1:1/", "--security-profile", "2")
    assert out.returncode == ExitCode.USAGE and "device id" in out.stderr
    out = _dial(sim_pki, "wss://127.0.0.1:1/ocpp/CP-1", "--security-profile", "2")
    assert out.returncode != 0 and "WSCTL_BASIC_AUTH_PASSWORD" in out.stderr and "Traceback" not in out.stderr
    out = run_in_process("serve", "--echo", "--security-profile", "2", environ={})
    assert out.returncode == ExitCode.USAGE and "--dial" in out.stderr
