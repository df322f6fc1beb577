"""Failures that used to be reported as something else (issue 8, item 12).

The peers here are hand-written: a TCP peer that resets the connection in the
middle of the TLS handshake (what an mbedTLS device does when it cannot use our
certificate), a TLS port dialled with ws://, and a "device" that completes the
WebSocket upgrade by hand with answers wsctl did not ask for.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import socket
import ssl
import struct

import pytest
import trio

from wsctl.core.errors import HandshakeRejected, TLSError
from wsctl.net.api import open_device
from wsctl.net.reconnect import retryable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


async def _serve_raw(nursery, handler, ctx=None) -> int:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    if ctx is not None:
        listeners = [trio.SSLListener(lst, ctx, https_compatible=True) for lst in listeners]
    nursery.start_soon(functools.partial(trio.serve_listeners, handler, listeners))
    inner = listeners[0].transport_listener if ctx is not None else listeners[0]
    return inner.socket.getsockname()[1]


async def _reset_after_client_hello(stream: trio.SocketStream) -> None:
    await stream.receive_some(65536)
    # SO_LINGER 0: close sends RST, as an embedded TLS stack aborting does
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


async def test_reset_during_tls_handshake_is_a_tls_failure(nursery, alice_kw):
    port = await _serve_raw(nursery, _reset_after_client_hello)
    with trio.fail_after(10), pytest.raises(TLSError) as info:
        async with open_device(f"wss://127.0.0.1:{port}/", **alice_kw):
            pass
    err = info.value
    assert err.exit_code == 4
    assert "TLS handshake" in str(err) and "reset" in str(err)
    assert "certificate" in str(err)
    assert not retryable(err), "--reconnect must not retry a device that refuses our certificate"


async def test_ws_scheme_against_a_tls_port_is_a_tls_failure(nursery, start_server, alice_kw):
    server = await start_server()
    url = f"ws://127.0.0.1:{server.port}/"
    with trio.fail_after(10), pytest.raises(TLSError) as info:
        async with open_device(url, allow_plaintext=True, connect_timeout=5):
            pass
    assert info.value.exit_code == 4
    assert "wss://" in str(info.value)


def _accept_key(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + GUID).digest())
    raise AssertionError("no Sec-WebSocket-Key in the request")


def _hand_written_device(extra: bytes):
    async def device(stream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            request += chunk
        answer = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n" + extra + b"\r\n"
        )
        await stream.send_all(answer)
        await trio.sleep(5)

    return device


def _device_context(pki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    return ctx


@pytest.mark.parametrize(
    "extra, offered, expected",
    [
        (b"Sec-WebSocket-Protocol: ocpp2.0.1\r\n", ("ocpp1.6",), "subprotocol 'ocpp2.0.1'"),
        (b"Sec-WebSocket-Protocol: ocpp1.6\r\n", (), "subprotocol 'ocpp1.6'"),
        (b"Sec-WebSocket-Extensions: permessage-deflate\r\n", (), "extension 'permessage-deflate'"),
    ],
)
async def test_unasked_for_upgrade_answer_says_what_the_device_did(nursery, pki, alice_kw, extra, offered, expected):
    port = await _serve_raw(nursery, _hand_written_device(extra), _device_context(pki))
    with trio.fail_after(10), pytest.raises(HandshakeRejected) as info:
        async with open_device(f"wss://localhost:{port}/", subprotocols=offered, **alice_kw):
            pass
    message = str(info.value)
    assert expected in message, message
    assert "can't handle event" not in message and "role=CLIENT" not in message


async def test_non_101_answer_without_length_names_the_status(nursery, pki, alice_kw):
    """An HTTP/1.0 page ended by closing the connection (openssl s_server -www)."""

    async def web_page(stream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n<html>hello</html>")
        await stream.aclose()

    port = await _serve_raw(nursery, web_page, _device_context(pki))
    with trio.fail_after(10), pytest.raises(HandshakeRejected) as info:
        async with open_device(f"wss://localhost:{port}/", **alice_kw):
            pass
    assert info.value.status == 200 and "HTTP 200" in str(info.value)
