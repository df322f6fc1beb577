"""`wsctl serve` as a process: URL line, access log with identities, limits,
bad peers, signals; and interoperability with python-websockets both ways."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading

import pytest
from client_helpers import PASSWORD, start_server, wsctl

from wsctl.core.exit_table import ExitCode


def test_listening_line_then_one_access_line_per_connection(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    assert server.first["event"] == "listening" and server.first["client_auth"] == "required"
    assert server.url.startswith("wss://127.0.0.1:")
    assert wsctl("send", server.url, *plant.op("bob"), "--raw", "hello").returncode == 0
    wsctl("send", server.url, *plant.op("mallory"), "--raw", "x")
    lines = server.lines()
    assert server.proc.returncode == ExitCode.TERMINATED
    good = next(line for line in lines if line["outcome"] == "closed")
    assert good["identity"]["name"] == "bob" and good["identity"]["role"] == "observer"
    assert good["identity"]["fingerprint"].startswith("sha256:")
    assert (good["messages_in"], good["bytes_in"], good["close_code"]) == (1, 5, 1000)
    refused = next(line for line in lines if line["outcome"] == "tls-failed")
    assert "revoked" in refused["error"]


def test_sigint_stops_the_server_with_130_and_no_traceback(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    server.proc.send_signal(signal.SIGINT)
    _, err = server.proc.communicate(timeout=20)
    assert server.proc.returncode == ExitCode.INTERRUPTED
    assert "Traceback" not in err


def test_garbage_and_a_stalled_handshake_do_not_hold_up_others(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--handshake-timeout", "1")
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    stalled = socket.create_connection(("127.0.0.1", port))
    garbage = socket.create_connection(("127.0.0.1", port))
    garbage.sendall(b"GET / HTTP/1.1\r\n\r\n" + os.urandom(512))
    try:
        out = wsctl("send", server.url, *plant.op("bob"), "--raw", "still serving")
        assert out.returncode == 0 and out.stdout == "still serving\n"
    finally:
        stalled.close()
        garbage.close()
    lines = server.lines()
    assert any(line["identity"] and line["identity"]["name"] == "bob" for line in lines)


def test_oversized_message_is_closed_1009_and_server_goes_on(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--max-message-size", "1000")
    big = wsctl("send", server.url, *plant.op("bob"), "--raw", "x" * 5000)
    assert big.returncode == ExitCode.CLOSED and "1009" in big.stderr
    small = wsctl("send", server.url, *plant.op("bob"), "--raw", "ok")
    assert small.returncode == 0
    server.lines()


def test_max_connections_rejects_with_503(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--max-connections", "1")
    holder = subprocess.Popen(
        [sys.executable, "-m", "wsctl", "watch", server.url, *plant.op("bob"), "--send", "hold", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSCTL_PASSWORD": PASSWORD},
    )
    try:
        assert json.loads(holder.stdout.readline())["data"] == "hold"
        out = wsctl("send", server.url, *plant.op("bob"), "--raw", "x")
        assert out.returncode == ExitCode.HANDSHAKE and "503" in out.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)
        server.lines()


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        ([], ExitCode.USAGE, "--echo"),
        (["--echo", "--device", "dev"], ExitCode.USAGE, "--certs and --device"),
        (["--echo", "--listen", "nonsense"], ExitCode.USAGE, "HOST:PORT"),
        (["--echo"], ExitCode.USAGE, "needs a certificate"),
    ],
)
def test_serve_usage_errors(args, code, fragment):
    out = wsctl("serve", *args, "--listen", "127.0.0.1:0") if "--listen" not in args else wsctl("serve", *args)
    assert out.returncode == code and fragment in out.stderr


def test_serve_unknown_device_is_invalid(plant):
    out = wsctl("serve", "--echo", "--certs", str(plant.certs), "--device", "nope", "--listen", "127.0.0.1:0")
    assert out.returncode == ExitCode.INVALID and "nope" in out.stderr


def test_serve_wrong_key_passphrase_is_reported(plant, tmp_path):
    wsctl("certs", "--dir", str(plant.certs), "issue", "device", "locked", "--ip", "127.0.0.1")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    out = wsctl(
        "serve",
        "--echo",
        "--certs",
        str(plant.certs),
        "--device",
        "locked",
        "--password-file",
        str(wrong),
        "--listen",
        "127.0.0.1:0",
    )
    assert out.returncode == ExitCode.ERROR, out.stderr  # a PasswordError
    assert "wrong passphrase" in out.stderr and "Traceback" not in out.stderr


def test_python_websockets_client_against_wsctl_serve(plant):
    from websockets.asyncio.client import connect

    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    ctx = ssl.create_default_context(cafile=str(plant.certs / "ca" / "root.crt"))
    ctx.load_cert_chain(plant.certs / "operators" / "bob" / "chain.pem", plant.certs / "operators" / "bob" / "key.pem")

    async def talk():
        async with connect(server.url, ssl=ctx, open_timeout=10) as ws:
            await ws.send("from python-websockets")
            text = await asyncio.wait_for(ws.recv(), 10)
            await ws.send(b"\x00\xff")
            data = await asyncio.wait_for(ws.recv(), 10)
            return text, data

    assert asyncio.run(talk()) == ("from python-websockets", b"\x00\xff")
    lines = server.lines()
    assert lines[0]["identity"]["name"] == "bob"


@pytest.fixture
def websockets_server(plant):
    """A python-websockets (asyncio) wss server with client auth, in a thread."""
    from websockets.asyncio.server import serve

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(plant.certs / "ca" / "root.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(
        plant.certs / "devices" / "dev" / "chain.pem", plant.certs / "devices" / "dev" / "key.pem", password=PASSWORD
    )
    started = threading.Event()
    state: dict = {}

    async def handler(ws):
        async for message in ws:
            await ws.send(message)
            await ws.send("telemetry:" + (message if isinstance(message, str) else message.hex()))

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=ctx) as srv:
            state["port"] = srv.sockets[0].getsockname()[1]
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = asyncio.Event()
            started.set()
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield f"wss://localhost:{state['port']}/"
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def test_wsctl_send_and_watch_against_python_websockets(plant, websockets_server):
    out = wsctl("send", websockets_server, *plant.op("bob"), "--raw", "ping", "--expect", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ping", "telemetry:ping"]
    watched = wsctl("watch", websockets_server, *plant.op("bob"), "--send", "a", "--count", "2")
    assert [json.loads(line)["data"] for line in watched.stdout.splitlines()] == ["a", "telemetry:a"]


def test_a_client_sending_only_its_leaf_certificate_is_verified(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    bob = plant.certs / "operators" / "bob"
    out = wsctl(
        "send",
        server.url,
        "--ca",
        str(plant.certs / "ca" / "root.crt"),
        "--cert",
        str(bob / "cert.pem"),
        "--key",
        str(bob / "key.pem"),
        "--raw",
        "leaf only",
    )
    server.lines()
    assert out.returncode == 0, out.stderr
    assert out.stdout == "leaf only\n"


def test_revoking_while_serving_refuses_the_next_handshake(plant, tmp_path):
    # a store of its own: this test revokes
    certs = tmp_path / "certs"
    for step in (
        ["init"],
        ["issue", "device", "dev", "--ip", "127.0.0.1"],
        ["issue", "operator", "carol", "--role", "operator"],
    ):
        assert wsctl("certs", "--dir", str(certs), *step).returncode == 0
    server = start_server("--echo", "--certs", str(certs), "--device", "dev")
    op = ["--certs", str(certs), "--operator", "carol"]
    assert wsctl("send", server.url, *op, "--raw", "before").returncode == 0
    assert wsctl("certs", "--dir", str(certs), "revoke", "carol").returncode == 0
    after = wsctl("send", server.url, *op, "--raw", "after")
    server.lines()
    assert after.returncode == ExitCode.TLS and "revoked" in after.stderr
