"""One named test per trio-websocket trap (docs/design.md, "trio-websocket traps")
that is not already named elsewhere (trap 1: test_net_server.py, trap 3:
test_net_connect_errors.py, trap 4: test_net_mtls.py).  Where it is cheap, the test
also shows the trap is real by running the same thing without wsctl's handling."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import textwrap

import pytest
import trio
import trio_websocket
import wsproto
from wsproto.events import AcceptConnection, CloseConnection, Request
from wsproto.utilities import LocalProtocolError

from wsctl.core.errors import ConnectionClosed, DeviceError, TLSError
from wsctl.net.api import open_device


async def test_trap2_bad_certificate_fails_at_once_not_after_connect_timeout(start_server, pki, alice_kw):
    """trap 2: trio-websocket's own connect reports a bad certificate as a
    ConnectionTimeout after connect_timeout; wsctl must say what it is, now."""
    server = await start_server()
    # a TLSError, not a Timeout, inside a bound far below the 60 s connect timeout:
    # reported at once, whatever the machine's speed
    with trio.fail_after(20):
        with pytest.raises(TLSError, match="unknown CA"):
            async with open_device(server.url, **{**alice_kw, "ca": pki.other_root, "connect_timeout": 60}):
                pass


def _sends_then_pings(outcome, pinged):
    async def handler(conn):
        for i in range(10):
            await conn.send(f"m{i}")
        try:
            await conn.ping(timeout=0.5)
            outcome.append("pong")
        except Exception as exc:  # noqa: BLE001
            outcome.append(type(exc).__name__)
        pinged.set()
        await conn.receive()

    return handler


async def test_trap5_unread_messages_do_not_stall_pings(start_server, alice_kw, pki):
    """trap 5: with trio-websocket's default queue of 1, the client's reader
    stops after one unread message and stops answering pings; wsctl's
    connection has no message queue to fill (a bound on bytes instead)."""
    pinged, outcome = trio.Event(), []
    server = await start_server(_sends_then_pings(outcome, pinged))
    with trio.fail_after(5):
        async with open_device(server.url, **alice_kw) as dev:
            await pinged.wait()  # nothing read on the client meanwhile
            assert [await dev.receive(timeout=2) for _ in range(10)] == [f"m{i}" for i in range(10)]
    assert outcome == ["pong"]

    # the trap is real: the bare library with its default queue stalls the pong
    pinged, outcome = trio.Event(), []
    server = await start_server(_sends_then_pings(outcome, pinged))
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(alice_kw["cert"], alice_kw["key"])
    with trio.fail_after(5):
        async with trio_websocket.open_websocket_url(server.url, ssl_context=ctx) as ws:
            await pinged.wait()
            assert [await ws.get_message() for _ in range(10)] == [f"m{i}" for i in range(10)]
    assert outcome == ["Timeout"]


async def _ping_during_close_server(task_status=trio.TASK_STATUS_IGNORED, *, pki):
    """A device whose ping crosses our close frame: after our Close it sends a
    Ping before its own Close (legal, and what busy devices do)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")

    async def device(stream):
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                elif isinstance(event, CloseConnection):
                    # wsproto would not let us send a ping now; frame it by hand
                    await stream.send_all(b"\x89\x04ping")
                    await trio.sleep(0.05)
                    await stream.send_all(ws.send(event.response()))
                    await stream.aclose()
                    return

    await trio.serve_listeners(device, listeners, task_status=task_status)


async def test_trap6_ping_during_close_is_tolerated(nursery, pki, alice_kw):
    """trap 6 (upstream #184): a ping that arrives while we close makes the
    reader answer with a pong wsproto refuses (LocalProtocolError)."""
    import functools

    listeners = await nursery.start(functools.partial(_ping_during_close_server, pki=pki))
    url = f"wss://127.0.0.1:{listeners[0].transport_listener.socket.getsockname()[1]}/"
    # a close that waited for the handshake the dead reader cannot finish would
    # take the whole close_timeout: far past this bound
    with trio.fail_after(20):
        async with open_device(url, ca=pki.root, close_timeout=600) as dev:
            pass  # leaving closes: our Close, their Ping, their Close
    assert dev.closed is not None

    # the trap is real: the bare library's reader dies of LocalProtocolError
    with trio.fail_after(5):
        with pytest.raises(BaseException) as info:
            ctx = ssl.create_default_context(cafile=str(pki.root))
            async with trio_websocket.open_websocket_url(url, ssl_context=ctx, disconnect_timeout=1):
                pass
    exc = info.value
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    chain = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    # it surfaces as the LocalProtocolError or, worse, as a stray Cancelled caused by it
    assert any(isinstance(e, LocalProtocolError) for e in chain), chain


async def test_trap8_timeouts_and_errors_in_the_body_come_out_bare(start_server, alice_kw):
    """trap 8: a nursery wrapping the `async with` body must not turn the
    caller's own exceptions into ExceptionGroups."""
    server = await start_server()
    with pytest.raises(trio.TooSlowError):
        async with open_device(server.url, **alice_kw) as dev:
            with trio.fail_after(0.05):
                await dev.receive()
    with pytest.raises(trio.TooSlowError):
        with trio.fail_after(0.05):
            async with open_device(server.url, **alice_kw) as dev:
                await dev.receive()
    with trio.fail_after(5):
        with pytest.raises(DeviceError, match="reply did not match"):
            async with open_device(server.url, **alice_kw) as dev:
                raise DeviceError("reply did not match")
        with pytest.raises(KeyError):
            async with open_device(server.url, **alice_kw) as dev:
                {}["missing"]


def test_trap7_sigint_sends_1001_and_exits_130(pki, tmp_path):
    """trap 7: SIGINT to a serving process closes every peer with 1001 and
    exits 130 without a traceback (through wsctl.cli.support.runtime.run_async)."""
    script = tmp_path / "serve.py"
    script.write_text(
        textwrap.dedent(f"""
        import functools, sys, trio
        from wsctl.cli.support.runtime import run_async
        from wsctl.core.errors import Interrupted
        from wsctl.net.api import serve, echo_handler

        async def main():
            async with trio.open_nursery() as n:
                s = await n.start(functools.partial(serve, echo_handler, cert_chain={str(pki.device.chain)!r},
                                                    key={str(pki.device.key)!r}, ca={str(pki.root)!r}))
                print(s.url, flush=True)
        try:
            run_async(main)
        except Interrupted as exc:
            sys.exit(exc.exit_code)
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("wss://"), proc.stderr.read()

        async def client():
            with trio.fail_after(5):
                async with open_device(url, ca=pki.root, cert=pki.alice.chain, key=pki.alice.key) as dev:
                    await dev.send("x")
                    assert await dev.receive() == "x"
                    proc.send_signal(signal.SIGINT)
                    with pytest.raises(ConnectionClosed) as info:
                        await dev.receive(timeout=3)
                    return info.value.code

        assert trio.run(client) == 1001
        assert proc.wait(timeout=5) == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
