"""Dial-out: the simulated charger calls a python-websockets central system,
boots, honours one outstanding call per direction, answers the central
system's CALLs, rejects a malformed frame with a CALLERROR, closes on Reset and
dials again."""

from __future__ import annotations

import json
import subprocess
import sys

import trio
from sim_central import CentralSystem, recv_json, silent_for
from sim_profiles import OCPP, load

from wsctl.core.exit_table import ExitCode
from wsctl.net.simulate import Simulator


async def charger_session(ws, n):
    boot = await recv_json(ws)
    assert boot[0] == 2 and boot[2] == "BootNotification" and boot[3] == {"chargePointVendor": "ACME"}, boot
    # the StatusNotification of on_connect waits until the boot is answered
    quiet = await silent_for(ws, 0.3)
    await ws.send(
        json.dumps([3, boot[1], {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}])
    )
    status = await recv_json(ws)
    assert status[2] == "StatusNotification", status
    await ws.send(json.dumps([3, status[1], {}]))
    if n > 0:
        return {"quiet": quiet, "boot_again": True}
    await ws.send(json.dumps([2, "c1", "RemoteStartTransaction", {"idTag": "TAG1"}]))
    started = await recv_json(ws)
    charging = await recv_json(ws)
    await ws.send(json.dumps([3, charging[1], {}]))
    await ws.send("this is not OCPP")
    malformed = await recv_json(ws)
    await ws.send(json.dumps([2, "c2", "UnlockConnector", {"connectorId": 1}]))
    unknown = await recv_json(ws)
    await ws.send(json.dumps([2, "c3", "Reset", {"type": "Hard"}]))
    reset = await recv_json(ws)
    await asyncio_wait_closed(ws)
    return {
        "quiet": quiet,
        "started": started,
        "charging": charging,
        "malformed": malformed,
        "unknown": unknown,
        "reset": reset,
        "close_code": ws.close_code,
    }


async def asyncio_wait_closed(ws):
    import asyncio

    await asyncio.wait_for(ws.wait_closed(), 5)


async def test_simulated_charger_dials_a_central_system(sim_pki):
    records: list[dict] = []
    central = CentralSystem(sim_pki, charger_session, sessions=2)
    await trio.to_thread.run_sync(central.start)
    try:
        sim = Simulator(load(OCPP), seed=1, report=records.append)
        url = f"wss://localhost:{central.port}/ocpp/CP-1"
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            nursery.start_soon(
                lambda: sim.dial(
                    url,
                    role="engineer",
                    redial=0.2,
                    ca=sim_pki.root,
                    cert=sim_pki.device.chain,
                    key=sim_pki.device.key,
                    connect_timeout=5,
                )
            )
            assert await trio.to_thread.run_sync(central.wait, 20)
            nursery.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(central.stop)
    first, second = central.results
    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert central.paths == ["/ocpp/CP-1", "/ocpp/CP-1"] and central.subprotocols == ["ocpp1.6", "ocpp1.6"]
    assert first["quiet"] and second["quiet"]
    assert first["started"] == [3, "c1", {"status": "Accepted"}]
    assert first["charging"][2] == "StatusNotification" and first["charging"][3]["status"] == "Charging"
    assert first["malformed"][:3] == [4, "-1", "FormationViolation"]
    assert first["unknown"][:3] == [4, "c2", "NotImplemented"]
    assert first["reset"] == [3, "c3", {"status": "Accepted"}] and first["close_code"] == 1000
    assert second["boot_again"]
    commands = [(r["command"], r["result"], r["role"]) for r in records if r["event"] == "command"]
    assert commands == [
        ("remote_start", "ok", "engineer"),
        (None, "invalid", "engineer"),
        (None, "invalid", "engineer"),
        ("reset", "ok", "engineer"),
    ]
    answered = [r["call"] for r in records if r["event"] == "response"]
    assert answered[:3] == ["BootNotification", "StatusNotification", "StatusNotification"]
    assert [r["event"] for r in records].count("dialed") == 2


async def config_session(ws, n):
    boot = await recv_json(ws)
    await ws.send(
        json.dumps([3, boot[1], {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}])
    )
    status = await recv_json(ws)
    await ws.send(json.dumps([3, status[1], {}]))
    await ws.send(json.dumps([2, "g1", "GetConfiguration", {}]))
    config = await recv_json(ws)
    await ws.send(json.dumps([2, "g2", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}]))
    changed = await recv_json(ws)
    await ws.close()
    return {"boot": boot, "config": config, "changed": changed}


def test_cli_dial_with_the_shipped_ocpp_profile(sim_pki, tmp_path):
    central = CentralSystem(sim_pki, config_session).start()
    audit = tmp_path / "audit.jsonl"
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsctl",
                "--json",
                "serve",
                "--profile",
                "ocpp16-charger",
                "--dial",
                f"wss://localhost:{central.port}/ocpp/CP-7",
                "--certs",
                str(sim_pki.store.path),
                "--device",
                "plc",
                "--redial",
                "0",
                "--audit-log",
                str(audit),
                "--central-role",
                "engineer",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert central.wait(5)
    finally:
        central.stop()
    assert proc.returncode == 0, proc.stderr
    (result,) = central.results
    assert not isinstance(result, Exception), result
    assert result["boot"][3]["chargePointVendor"] == "ACME"
    assert result["config"][:2] == [3, "g1"] and any(
        k["key"] == "HeartbeatInterval" for k in result["config"][2]["configurationKey"]
    )
    assert result["changed"] == [3, "g2", {"status": "Accepted"}]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["event"] == "dialing" and any(line["event"] == "dialed" for line in lines)
    audited = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(a["command"], a["result"], a["role"]) for a in audited] == [
        ("get_configuration", "ok", "engineer"),
        ("change_configuration", "ok", "engineer"),
    ]


def test_cli_dial_usage_errors(sim_pki):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wsctl",
            "serve",
            "--profile",
            "ocpp16-charger",
            "--dial",
            "wss://127.0.0.1:1/x",
            "--device",
            "plc",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == ExitCode.USAGE and "--certs" in out.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wsctl",
            "serve",
            "--profile",
            "ocpp16-charger",
            "--dial",
            "wss://127.0.0.1:1/x",
            "--central-role",
            "king",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == ExitCode.USAGE and "king" in out.stderr


def test_cli_dial_without_redial_reports_a_refused_connection(sim_pki):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wsctl",
            "serve",
            "--profile",
            "ocpp16-charger",
            "--dial",
            f"wss://127.0.0.1:{port}/ocpp/CP-1",
            "--certs",
            str(sim_pki.store.path),
            "--device",
            "plc",
            "--redial",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == ExitCode.CONNECT and "Traceback" not in out.stderr, out.stderr


def going_away_session(entered):
    async def script(ws, n):
        boot = await recv_json(ws)
        await ws.send(
            json.dumps([3, boot[1], {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}])
        )
        status = await recv_json(ws)
        await ws.send(json.dumps([3, status[1], {}]))
        entered.set()  # the test now cancels the dialing task
        await asyncio_wait_closed(ws)
        return {"code": ws.close_code, "reason": ws.close_reason}

    return script


async def test_cancelled_dial_closes_with_going_away(sim_pki):
    import threading

    entered = threading.Event()
    central = CentralSystem(sim_pki, going_away_session(entered))
    await trio.to_thread.run_sync(central.start)
    try:
        sim = Simulator(load(OCPP), seed=1)
        url = f"wss://localhost:{central.port}/ocpp/CP-1"
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            nursery.start_soon(
                lambda: sim.dial(
                    url,
                    role="engineer",
                    redial=None,
                    ca=sim_pki.root,
                    cert=sim_pki.device.chain,
                    key=sim_pki.device.key,
                    connect_timeout=5,
                )
            )
            assert await trio.to_thread.run_sync(entered.wait, 20)
            nursery.cancel_scope.cancel()  # what SIGTERM does to `wsctl serve --dial`
        assert await trio.to_thread.run_sync(central.wait, 10)
    finally:
        await trio.to_thread.run_sync(central.stop)
    (result,) = central.results
    assert not isinstance(result, Exception), result
    assert result == {"code": 1001, "reason": "going away"}


def test_cli_dial_sigterm_sends_going_away(sim_pki):
    import signal
    import threading

    entered = threading.Event()
    central = CentralSystem(sim_pki, going_away_session(entered)).start()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wsctl",
            "serve",
            "--profile",
            "ocpp16-charger",
            "--dial",
            f"wss://localhost:{central.port}/ocpp/CP-9",
            "--certs",
            str(sim_pki.store.path),
            "--device",
            "plc",
            "--redial",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert entered.wait(20)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        assert central.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        central.stop()
    (result,) = central.results
    assert result == {"code": 1001, "reason": "going away"}, (result, proc.stderr.read())
