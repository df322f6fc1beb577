"""Hand-made WebSocket peers for the network tests: frames written byte by byte,
so that the peer can do what no library would (bad frames, stalled handshakes).

- `frame` builds one frame; `read_frames` splits what came back.
- `raw_client` is a TLS client (alice's certificate) that did the upgrade by hand.
- `raw_device` is a TLS server (the device certificate) that answers the
  upgrade by hand and then runs a script against the client.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import socket
import ssl
import struct

import trio
from shared_pki import PW  # noqa: F401  (re-exported for the net tests)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True, length: int | None = None
) -> bytes:
    """One frame; ``length`` overrides the declared payload length (header only)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 2**16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def read_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of each whole frame in ``data``."""
    out = []
    while len(data) >= 2:
        opcode, n, masked = data[0] & 0x0F, data[1] & 0x7F, data[1] & 0x80
        pos = 2
        if n == 126:
            n, pos = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack("!Q", data[2:10])[0], 10
        key = data[pos : pos + 4] if masked else b""
        pos += 4 if masked else 0
        if len(data) < pos + n:
            break
        payload = data[pos : pos + n]
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        out.append((opcode, payload))
        data = data[pos + n :]
    return out


def close_of(data: bytes) -> tuple[int, str] | None:
    """The (code, reason) of the first frame if it is a close frame."""
    frames = read_frames(data)
    if not frames or frames[0][0] != 0x8:
        return None
    payload = frames[0][1]
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


async def read_to_eof(stream: trio.abc.ReceiveStream, data: bytes = b"") -> bytes:
    """Everything until EOF (or a reset, which ends it too)."""
    try:
        while chunk := await stream.receive_some(65536):
            data += chunk
    except trio.BrokenResourceError:
        pass
    return data


async def raw_client(
    port: int, pki, *, source: str | None = None, sndbuf: int | None = None
) -> tuple[trio.SSLStream, bytes]:
    """A TLS client with alice's certificate after a hand-made upgrade: (stream, bytes after the 101).
    ``sndbuf``: the socket's send buffer (small: writes block soon)."""
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(pki.alice.chain, pki.alice.key)
    tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    if sndbuf:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
    await tls.send_all(UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        head += await tls.receive_some(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return tls, head.split(b"\r\n\r\n", 1)[1]


def _accept_key(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + _GUID).digest())
    raise AssertionError(f"no Sec-WebSocket-Key in {request!r}")


async def device_listener(nursery: trio.Nursery, pki, on_request) -> str:
    """Listen with the device certificate; per connection, read the upgrade
    request and ``await on_request(stream, request)`` (nothing answered yet).
    Returns the wss:// URL."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")

    async def device(stream: trio.SSLStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            request += chunk
        await on_request(stream, request)

    await nursery.start(functools.partial(trio.serve_listeners, device, listeners))
    return f"wss://127.0.0.1:{listeners[0].transport_listener.socket.getsockname()[1]}/"


async def raw_device(nursery: trio.Nursery, pki, script) -> str:
    """`device_listener` that answers the upgrade by hand, then ``await script(stream)``."""

    async def accept(stream: trio.SSLStream, request: bytes) -> None:
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n\r\n"
        )
        await script(stream)

    return await device_listener(nursery, pki, accept)


def free_port() -> int:
    """A TCP port nothing listens on now (for a server that must come back on the same one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
