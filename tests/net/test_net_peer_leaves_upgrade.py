"""A client that gives up between its upgrade request and the server's answer
(what thousands of devices do in a reconnect storm) is recorded as having left,
not as a server failure, and is not logged as an error."""

from __future__ import annotations

import logging
import socket
import ssl
import struct

import trio


async def test_a_client_that_leaves_before_the_upgrade_answer_is_not_a_server_failure(start_server, pki, caplog):
    caplog.set_level(logging.ERROR, logger="wsctl.net.server")
    records = []
    left = trio.Event()

    async def slow_authorize(request):
        await left.wait()  # the client is gone by the time we answer
        await trio.sleep(0.05)

    server = await start_server(authorize=slow_authorize, access_log=records.append)

    def client():
        ctx = ssl.create_default_context(cafile=str(pki.root))
        ctx.load_cert_chain(str(pki.alice.chain), str(pki.alice.key))
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        # leave with a reset, as a device that timed out does
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()

    await trio.to_thread.run_sync(client)
    left.set()
    with trio.fail_after(10):
        while not records:
            await trio.sleep(0.01)
    (rec,) = records
    assert rec.outcome != "handler-error", rec.error
    assert not [r for r in caplog.records if "connection failed" in r.getMessage()]
