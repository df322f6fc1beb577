"""Interoperability with python-websockets (asyncio), both directions, mTLS."""

from __future__ import annotations

import asyncio
import ssl
import threading

import pytest
import trio

from wsctl.core.errors import TLSError
from wsctl.net.api import open_device


async def test_websockets_client_against_wsctl_server(start_server, pki):
    from websockets.asyncio.client import connect

    seen = []

    async def handler(conn):
        seen.append((conn.identity.name, conn.subprotocol))
        async for msg in conn:
            await conn.send(msg)

    server = await start_server(handler, subprotocols=["ocpp1.6"])
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.bob.chain, pki.bob.key)

    async def client():
        async with connect(server.url, ssl=ctx, subprotocols=["ocpp1.6"], open_timeout=5) as ws:
            await ws.send("text")
            text = await ws.recv()
            await ws.send(b"\x00\x01")
            binary = await ws.recv()
            big = "y" * 100_000
            await ws.send(big)
            echoed = await ws.recv()
            return text, binary, echoed == big, ws.subprotocol

    with trio.fail_after(10):
        result = await trio.to_thread.run_sync(asyncio.run, client())
    assert result == ("text", b"\x00\x01", True, "ocpp1.6")
    assert seen == [("bob", "ocpp1.6")]


async def test_websockets_client_without_certificate_is_refused(start_server, pki):
    from websockets.asyncio.client import connect

    records = []
    server = await start_server(access_log=records.append)
    ctx = ssl.create_default_context(cafile=str(pki.root))

    async def client():
        try:
            async with connect(server.url, ssl=ctx, open_timeout=5) as ws:
                await ws.recv()
        except Exception as exc:  # noqa: BLE001
            chain = []
            while exc is not None:
                chain.append(f"{type(exc).__name__}: {exc}")
                exc = exc.__cause__ or exc.__context__
            return " <- ".join(chain)

    with trio.fail_after(10):
        message = await trio.to_thread.run_sync(asyncio.run, client())
    # websockets reports the alert as a closed stream; the point is that it is
    # refused at once and the server knows why
    assert message and "InvalidMessage" in message
    # the server writes its access record when it has finished with the socket,
    # which may be just after the client saw the refusal
    with trio.fail_after(5):
        while not records:
            await trio.sleep(0.01)
    assert records[0].outcome == "tls-failed" and "no certificate" in records[0].error


class WebsocketsServer:
    """A python-websockets mTLS echo server in its own thread and event loop."""

    def __init__(self, pki, *, require_client_cert=True):
        self.pki = pki
        self.require = require_client_cert
        self.port = None
        self.peers = []
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        from websockets.asyncio.server import serve

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.device.chain, self.pki.device.key)
        ctx.load_verify_locations(self.pki.root)
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require else ssl.CERT_NONE

        async def echo(ws):
            cert = ws.transport.get_extra_info("peercert")
            self.peers.append(cert and dict(x[0] for x in cert["subject"])["commonName"])
            async for msg in ws:
                await ws.send(msg)
            # ends with a normal close (1000)

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(echo, "127.0.0.1", 0, ssl=ctx, subprotocols=["wsctl-test"]) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    async def __aenter__(self):
        self._thread.start()
        assert await trio.to_thread.run_sync(self._ready.wait, 5)
        return self

    async def __aexit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        await trio.to_thread.run_sync(self._thread.join, 5)


async def test_wsctl_device_against_websockets_server(pki, alice_kw):
    async with WebsocketsServer(pki) as server:
        url = f"wss://localhost:{server.port}/telemetry"
        with trio.fail_after(10):
            async with open_device(url, subprotocols=["wsctl-test"], **alice_kw) as dev:
                assert dev.subprotocol == "wsctl-test"
                await dev.send("hello")
                assert await dev.receive(timeout=3) == "hello"
                await dev.send(b"\xff" * 70_000)
                assert await dev.receive(timeout=3) == b"\xff" * 70_000
                assert await dev.ping() >= 0  # the round trip, in seconds
        assert server.peers == ["alice"]


async def test_wsctl_device_without_cert_against_websockets_server(pki):
    async with WebsocketsServer(pki) as server:
        # a TLSError inside a bound far below the open's deadline: not a timeout
        with trio.fail_after(30):
            with pytest.raises(TLSError, match="client certificate"):
                async with open_device(f"wss://127.0.0.1:{server.port}/", ca=pki.root, connect_timeout=600):
                    pass
