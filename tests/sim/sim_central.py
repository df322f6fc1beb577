"""A python-websockets OCPP central system for the dial-out tests: mutual TLS,
subprotocol ocpp1.6, each connection driven by a scripted coroutine in its own
thread and asyncio loop (`client_cert=False`: TLS without client certificates,
OCPP security profile 2).  Results (or the exception a script raised) are kept
per connection so the trio test can assert on them."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading


class CentralSystem:
    def __init__(self, pki, script, sessions: int = 1, *, client_cert: bool = True, subprotocols=("ocpp1.6",)):
        self.pki = pki
        self.client_cert = client_cert
        self.subprotocol_list = list(subprotocols)
        #: DER of each connection's client certificate (None: it sent none)
        self.peer_certs: list[bytes | None] = []
        self.script = script
        self.sessions = sessions
        self.port = None
        self.results: list = []
        self.paths: list[str] = []
        self.subprotocols: list = []
        self._ready = threading.Event()
        self._done = threading.Event()
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        from websockets.asyncio.server import serve

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.device.chain, self.pki.device.key)
        ctx.load_verify_locations(self.pki.root)
        ctx.verify_mode = ssl.CERT_REQUIRED if self.client_cert else ssl.CERT_NONE

        async def handler(ws):
            n = len(self.paths)
            self.paths.append(ws.request.path)
            self.subprotocols.append(ws.subprotocol)
            self.peer_certs.append(ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True))
            try:
                result = await asyncio.wait_for(self.script(ws, n), 15)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                result = exc
            self.results.append(result)
            if len(self.results) >= self.sessions:
                self._done.set()

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(handler, "127.0.0.1", 0, ssl=ctx, subprotocols=self.subprotocol_list) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def start(self):
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def wait(self, timeout: float = 20) -> bool:
        return self._done.wait(timeout)

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self._thread.join(5)


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def silent_for(ws, seconds: float) -> bool:
    """True when nothing arrives for `seconds` (one outstanding call per direction)."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False
