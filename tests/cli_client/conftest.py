"""Fixtures for the client/server verbs: a PKI made by `wsctl certs`, real
`wsctl serve` processes on port 0.  Helpers live in client_helpers.py."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading

import pytest
from client_helpers import PASSWORD, Plant, start_server, wsctl_in_process


@pytest.fixture(scope="session")
def plant(tmp_path_factory) -> Plant:
    base = tmp_path_factory.mktemp("plant")
    certs = base / "certs"
    steps = [
        ["init", "--name", "Test Plant CA"],
        ["issue", "device", "dev", "--dns", "localhost", "--ip", "127.0.0.1"],
        ["issue", "operator", "alice", "--role", "engineer"],
        ["issue", "operator", "bob", "--role", "observer", "--no-password"],
        ["issue", "operator", "mallory", "--role", "operator"],
        ["revoke", "mallory", "--reason", "key-compromise"],
    ]
    for step in steps:
        out = wsctl_in_process("certs", "--dir", str(certs), *step)
        assert out.returncode == 0, (step, out.stderr)
    return Plant(base, certs)


@pytest.fixture(scope="session")
def echo_server(plant):
    """One `wsctl serve --echo` for the session: it keeps no state between
    connections, and no test stops it."""
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=10)


@pytest.fixture
def jsonrpc_device(plant):
    """A conveyor gateway that answers out of order and chats telemetry first."""
    from websockets.asyncio.server import serve

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(plant.certs / "ca" / "root.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(
        plant.certs / "devices" / "dev" / "chain.pem", plant.certs / "devices" / "dev" / "key.pem", password=PASSWORD
    )
    received: list = []
    state: dict = {}

    async def handler(ws):
        async for text in ws:
            received.append(json.loads(text))
            req = json.loads(text)
            method, rid = req.get("method"), req.get("id")
            # telemetry and a reply to an id nobody asked for come first: neither is the reply
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "conveyor.telemetry", "params": {"speed": 5}}))
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 999, "result": {"stray": True}}))
            if method == "conveyor.start":
                await ws.send(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": "belt jammed at station 3"}}
                    )
                )
            elif method == "conveyor.reset":
                await ws.send("<html>oops</html>")  # never a reply
            elif method == "conveyor.estop":
                await ws.send(
                    json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32001, "message": "Not authorized"}})
                )
            else:
                await ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": rid,
                            "result": {"method": method, "params": req.get("params"), "subprotocol": ws.subprotocol},
                        }
                    )
                )

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=ctx, subprotocols=["conveyor.v1"]) as srv:
            state["port"] = srv.sockets[0].getsockname()[1]
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = asyncio.Event()
            started.set()
            await state["stop"].wait()

    started = threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield f"wss://localhost:{state['port']}/", received
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)
