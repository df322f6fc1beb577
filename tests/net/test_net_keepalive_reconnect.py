"""Keepalive pings notice a vanished device; reconnect backs off and resumes."""

from __future__ import annotations

import functools
import random

import pytest
import trio

from wsctl.core.backoff import Backoff
from wsctl.core.errors import ConnectError, ConnectionClosed, TLSError
from wsctl.net.api import open_device, serve
from wsctl.net.reconnect import run_with_reconnect


async def test_keepalive_detects_a_dead_device(pki, nursery, alice_kw):
    import ssl

    # a device that accepts the upgrade and then never reads again, so our
    # pings go unanswered while the TCP connection stays up (a hung controller)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")

    async def device(stream):
        import wsproto
        from wsproto.events import AcceptConnection, Request

        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            if any(isinstance(e, Request) for e in ws.events()):
                await stream.send_all(ws.send(AcceptConnection()))
                await trio.sleep_forever()

    nursery.start_soon(functools.partial(trio.serve_listeners, device, listeners))
    url = f"wss://127.0.0.1:{listeners[0].transport_listener.socket.getsockname()[1]}/"
    # the receive has no timeout of its own: only the keepalive can end it
    with trio.fail_after(30):
        async with open_device(url, ping_interval=0.2, ping_timeout=0.3, **alice_kw) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive()
    assert "no pong within 0.3 s" in str(info.value)


async def test_keepalive_keeps_a_live_connection(pki, nursery, alice_kw):
    import ssl

    import wsproto
    from wsproto.events import AcceptConnection, Message, Ping, Request

    # a device that counts the pings it answers and echoes messages
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")
    pongs = []

    async def device(stream):
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while data := await stream.receive_some(65536):
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                elif isinstance(event, Ping):
                    await stream.send_all(ws.send(event.response()))
                    pongs.append(event.payload)
                elif isinstance(event, Message):
                    await stream.send_all(ws.send(event))

    nursery.start_soon(functools.partial(trio.serve_listeners, device, listeners))
    url = f"wss://127.0.0.1:{listeners[0].transport_listener.socket.getsockname()[1]}/"
    with trio.fail_after(30):
        async with open_device(url, ping_interval=0.05, ping_timeout=5, **alice_kw) as dev:
            while len(pongs) < 3:  # several pings sent and answered
                await trio.sleep(0.01)
            await dev.send("still")
            assert await dev.receive() == "still"
    assert dev.closed is not None and "pong" not in str(dev.closed)


async def test_reconnect_backs_off_then_resumes(pki, nursery, alice_kw):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    url = f"wss://127.0.0.1:{port}/"
    gaps = []

    async def start_device_later():
        await trio.sleep(0.3)
        await nursery.start(
            functools.partial(
                serve,
                lambda conn: conn.send("hello"),
                port=port,
                cert_chain=pki.device.chain,
                key=pki.device.key,
                ca=pki.root,
            )
        )

    nursery.start_soon(start_device_later)

    async def session(dev):
        return await dev.receive(timeout=2)

    with trio.fail_after(5):
        got = await run_with_reconnect(
            lambda: open_device(url, **alice_kw),
            session,
            backoff=Backoff(initial=0.05, maximum=0.2, jitter="equal"),
            on_gap=gaps.append,
            rng=random.Random(0),
        )
    assert got == "hello"
    assert len(gaps) >= 2 and all(isinstance(g.error, ConnectError) for g in gaps)
    assert [g.attempt for g in gaps] == list(range(1, len(gaps) + 1))
    assert all(0.025 <= g.delay <= 0.2 for g in gaps)


async def test_reconnect_gives_up_and_does_not_retry_tls_errors(start_server, pki, alice_kw):
    gaps = []
    with trio.fail_after(5):
        with pytest.raises(ConnectError):
            await run_with_reconnect(
                lambda: open_device("wss://127.0.0.1:1/", **alice_kw),
                lambda d: d.receive(),
                backoff=Backoff(initial=0.01, maximum=0.02, max_attempts=3),
                on_gap=gaps.append,
            )
    assert len(gaps) == 3
    server = await start_server()
    with pytest.raises(TLSError):
        await run_with_reconnect(
            lambda: open_device(server.url, **{**alice_kw, "ca": pki.other_root}),
            lambda d: d.receive(),
            backoff=Backoff(initial=0.01),
            on_gap=gaps.append,
        )
    assert len(gaps) == 3  # no retry for a certificate problem
