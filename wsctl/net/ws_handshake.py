"""The HTTP upgrade of a `wsctl.net.websocket.WebSocket`, both sides, with wsproto.

Server: `read_request` reads the client's upgrade request and returns an
`UpgradeRequest` (path, headers, proposed subprotocols) that the server
accepts (`accept`, with the subprotocol) or rejects (`reject`, with an HTTP
status, headers and body).  Client: `open_client` sends the request and
reads the answer: a `WebSocket`, or `ConnectionRejected` with the status,
headers and body.  Once the upgrade is done, wsproto's handshake object (and
h11's state in it) is dropped: the connection keeps only the frame layer.

The stream is one the caller set up (TLS handshake done, its errors already
reported); the caller bounds every wait here.
"""

from __future__ import annotations

from typing import Any

import trio
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from wsctl.net.websocket import MAX_BUFFERED_BYTES, RECEIVE_BUFFER_SIZE, WebSocket

_LOST = (trio.BrokenResourceError, trio.ClosedResourceError)


class ConnectionRejected(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status_code: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes | None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.body = body


class BadUpgrade(Exception):
    """Not a WebSocket upgrade (the server answered 400), or an invalid answer to ours."""


def _trailing(handshake: H11Handshake) -> bytes:
    """Bytes that came after the HTTP message: the peer's first frames."""
    h11_connection = handshake._h11_connection
    data, _closed = h11_connection.trailing_data
    return bytes(data)


class UpgradeRequest:
    """A client's upgrade request, before it is accepted or rejected."""

    __slots__ = ("_stream", "_handshake", "_event", "_options")

    def __init__(
        self, stream: trio.abc.Stream, handshake: H11Handshake, event: Request, options: dict[str, Any]
    ) -> None:
        self._stream = stream
        self._handshake = handshake
        self._event = event
        self._options = options

    @property
    def path(self) -> str:
        """The request target: path and query."""
        return self._event.target

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Request headers (names lower-case), without Host and the WebSocket ones wsproto takes."""
        return list(self._event.extra_headers)

    @property
    def proposed_subprotocols(self) -> tuple[str, ...]:
        return tuple(self._event.subprotocols)

    async def accept(
        self, *, subprotocol: str | None = None, extra_headers: list[tuple[bytes, bytes]] | None = None
    ) -> WebSocket:
        handshake = self._handshake
        trailing = _trailing(handshake)
        data = handshake.send(AcceptConnection(subprotocol=subprotocol, extra_headers=extra_headers or []))
        await self._stream.send_all(data)
        return WebSocket(self._stream, is_server=True, subprotocol=subprotocol, initial=trailing, **self._options)

    async def reject(
        self, status: int, *, extra_headers: list[tuple[bytes, bytes]] | None = None, body: bytes | None = None
    ) -> None:
        """Answer with HTTP ``status`` (the client sees ``ConnectionRejected``)."""
        headers = list(extra_headers or [])
        if body:
            headers.append((b"Content-Length", str(len(body)).encode()))
        data = self._handshake.send(RejectConnection(status_code=status, headers=headers, has_body=bool(body)))
        if body:
            data += self._handshake.send(RejectData(data=body, body_finished=True))
        await self._stream.send_all(data)


#: the largest upgrade request head taken (h11's own bound for one arriving in pieces)
MAX_REQUEST_HEAD = 16 * 1024


async def _refuse_head(stream: trio.abc.Stream, handshake: H11Handshake) -> None:
    try:
        await stream.send_all(handshake.send(RejectConnection(status_code=431, headers=[], has_body=False)))
    except (*_LOST, RemoteProtocolError):
        pass
    raise BadUpgrade(f"upgrade request head larger than {MAX_REQUEST_HEAD // 1024} KiB (answered 431)")


async def read_request(
    stream: trio.abc.Stream,
    *,
    max_message_size: int = 2**20,
    max_buffered_bytes: int = MAX_BUFFERED_BYTES,
    receive_buffer_size: int | None = RECEIVE_BUFFER_SIZE,
) -> UpgradeRequest | None:
    """The client's upgrade request; None when it left (or the stream broke) first.

    Raises `BadUpgrade` after answering 400 to something that is not one."""
    handshake = H11Handshake(ConnectionType.SERVER)
    options = {
        "max_message_size": max_message_size,
        "max_buffered_bytes": max_buffered_bytes,
        "receive_buffer_size": receive_buffer_size,
    }
    chunk = receive_buffer_size or RECEIVE_BUFFER_SIZE
    received = 0
    while True:
        try:
            data = await stream.receive_some(chunk)
        except _LOST:
            return None
        received += len(data)
        try:
            handshake.receive_data(bytes(data) if data else None)
            for event in handshake.events():
                if isinstance(event, Request):
                    if received - len(_trailing(handshake)) > MAX_REQUEST_HEAD:
                        # h11 bounds a head that arrives in pieces; one that came whole in a
                        # larger read did not pass that check, and its headers live as long as
                        # the connection.  Only the head counts: frames that came after it in
                        # the same read are the connection's (`accept`), not part of it
                        await _refuse_head(stream, handshake)
                    return UpgradeRequest(stream, handshake, event, options)
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            if hint is not None:
                try:
                    await stream.send_all(handshake.send(hint))
                except (*_LOST, RemoteProtocolError):
                    pass
            raise BadUpgrade(str(exc)) from None
        if not data:
            return None


#: the most of a non-101 answer's body read (the answer is known from its status
#: line: a server streaming a body without end is not read until the deadline)
MAX_REJECTION_BODY = 64 * 1024


class _Body:
    """A rejection's body as it arrives: pieces joined once (not copied at every
    piece), at most `MAX_REJECTION_BODY` bytes."""

    __slots__ = ("_pieces", "_size")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> bool:
        """Keep ``data``; True once `MAX_REJECTION_BODY` bytes are held (read no more)."""
        self._pieces.append(data)
        self._size += len(data)
        return self._size >= MAX_REJECTION_BODY

    def value(self) -> bytes:
        return b"".join(self._pieces)[:MAX_REJECTION_BODY]


async def open_client(
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    subprotocols: list[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    max_message_size: int = 2**20,
    max_buffered_bytes: int = MAX_BUFFERED_BYTES,
    receive_buffer_size: int | None = RECEIVE_BUFFER_SIZE,
) -> WebSocket | None:
    """Send the upgrade request and read the answer; None when the server
    closed (or the stream broke) before answering.

    Raises `ConnectionRejected` for a non-101 answer (with its body's first
    `MAX_REJECTION_BODY` bytes, at once once they are in), `BadUpgrade` for an
    invalid one."""
    handshake = H11Handshake(ConnectionType.CLIENT)
    request = Request(host=host, target=resource, subprotocols=subprotocols or [], extra_headers=extra_headers or [])
    try:
        await stream.send_all(handshake.send(request))
    except _LOST:
        return None
    chunk = receive_buffer_size or RECEIVE_BUFFER_SIZE
    status = 0
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body = _Body()
    while True:
        try:
            data = await stream.receive_some(chunk)
        except _LOST:
            return None
        try:
            handshake.receive_data(bytes(data) if data else None)
            for event in handshake.events():
                if isinstance(event, AcceptConnection):
                    return WebSocket(
                        stream,
                        is_server=False,
                        subprotocol=event.subprotocol,
                        max_message_size=max_message_size,
                        max_buffered_bytes=max_buffered_bytes,
                        receive_buffer_size=receive_buffer_size,
                        initial=_trailing(handshake),  # frames may have come with the 101
                    )
                if isinstance(event, RejectConnection):
                    status, headers = event.status_code, tuple(event.headers)
                    if not event.has_body:
                        raise ConnectionRejected(status, headers, None)
                elif isinstance(event, RejectData):
                    if body.add(event.data) or event.body_finished:
                        raise ConnectionRejected(status, headers, body.value())
        except RemoteProtocolError as exc:
            raise BadUpgrade(str(exc)) from None
        if not data:
            if status:
                raise ConnectionRejected(status, headers, body.value() or None)
            return None
