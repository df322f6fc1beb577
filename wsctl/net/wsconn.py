"""trio-websocket's connection, with the limits and failure handling wsctl needs.

Three things trio-websocket 0.12 does not do, fixed here for client and server:

- **Protocol errors close with a close frame.**  wsproto reports a frame it
  cannot parse (invalid UTF-8, unmasked client frame, reserved opcode,
  fragmented control frame, invalid close code) as a `CloseConnection` event
  *without* changing its state; trio-websocket takes that for the peer's close
  and hangs up, so the peer only sees EOF.  Here the connection is failed as
  RFC 6455 7.1.7 says: our close frame with the code, a short linger for the
  peer's EOF, then the stream is closed.
- **Buffered bytes are bounded.**  trio-websocket's queue counts *messages*
  (256 of up to ``max_message_size`` each: ~256 MiB per peer that sends and
  never reads).  `WebSocket` counts the bytes of received messages not yet
  taken by `get_message` plus the message being assembled; past
  ``max_buffered_bytes`` it closes with 1008 and drops what it held.
- **A frame header that announces more than the message limit is refused at
  once** (1009), instead of waiting for payload that may never come.

`failure` says what *we* closed for and `closed_by` who closed, so messages
can name the side that ended the connection and why.

These are overrides of trio-websocket and wsproto internals (0.12.x / 1.3.x);
tests/net/test_net_protocol_errors.py and test_net_limits.py fail if they stop
working, and must be re-run on any upgrade of either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket
from trio_websocket import CloseReason
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection
from wsproto.frame_protocol import CloseReason as Code
from wsproto.frame_protocol import FrameDecoder, Opcode, ParseFailed

#: After failing a connection: how long to read (and discard) what the peer
#: still sends, waiting for its EOF, before dropping it.  Closing a socket with
#: unread data makes the kernel send a RST, which can destroy the close frame
#: before the peer reads it.
FAIL_LINGER = 1.0
#: Default bound of received, not yet read bytes per connection (see module doc).
MAX_BUFFERED_BYTES = 4 * 2**20


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why this side closed the connection because of what the peer did."""

    code: int
    reason: str  # sent in the close frame (at most 123 bytes)
    detail: str  # what the peer did, for messages: "sent an invalid frame (...)"


def message_too_big(limit: int, size: int | None = None) -> Failure:
    what = f"a message of {size} bytes" if size is not None else "a larger message"
    return Failure(
        1009,
        f"message over {limit} bytes",
        f"sent {what}, over the {limit}-byte limit (max_message_size, --max-message-size)",
    )


def _protocol_failure(code: int, why: str) -> Failure:
    if code == Code.MESSAGE_TOO_BIG:
        # from _LimitedFrameDecoder, whose message is "<size> <limit>"
        size, limit = (int(x) for x in why.split())
        return message_too_big(limit, size)
    what = "invalid UTF-8" if code == Code.INVALID_FRAME_PAYLOAD_DATA else "an invalid frame"
    return Failure(code, f"invalid frame: {why}"[:123], f"sent {what} ({why})")


class _LimitedFrameDecoder(FrameDecoder):
    """wsproto's decoder, refusing a data frame whose header announces more
    than the message limit (with the frames of the message before it)."""

    max_message_size: int
    declared: int

    def parse_header(self) -> bool:
        if not super().parse_header():
            return False
        header = self.header
        assert header is not None
        if header.opcode is Opcode.CONTINUATION:
            self.declared += header.payload_len
        elif not header.opcode.iscontrol():
            self.declared = header.payload_len
        else:
            return True
        if self.declared > self.max_message_size:
            raise ParseFailed(f"{self.declared} {self.max_message_size}", Code.MESSAGE_TOO_BIG)
        return True


class WebSocket(trio_websocket.WebSocketConnection):
    """A `trio_websocket.WebSocketConnection` with the fixes of the module doc."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws_connection: WSConnection,
        *,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(stream, ws_connection, **kwargs)
        self.max_buffered_bytes = max(max_buffered_bytes, self._max_message_size)
        #: why we closed because of the peer, or None (`when_failed` is told)
        self.failure: Failure | None = None
        self._on_failure: Callable[[], None] | None = None
        #: "local" or "remote" once one side sent a close frame; None when lost
        self.closed_by: str | None = None
        #: most bytes ever held for this connection (see `buffered`)
        self.peak_buffered = 0
        self._queued = 0

    def when_failed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once we failed the connection (now, if we already did)."""
        if self.failure is not None:
            callback()
        else:
            self._on_failure = callback

    @property
    def buffered(self) -> int:
        """Bytes of received messages not yet taken by `get_message`, plus the
        message being assembled (text counts characters, like max_message_size)."""
        return self._queued + self._message_size

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        if self._close_reason is None and self._wsproto.state is ConnectionState.OPEN:
            self.closed_by = "local"
        await super().aclose(code, reason)

    async def get_message(self) -> str | bytes:
        message = await super().get_message()
        self._queued -= len(message)
        return message

    def _limit_frames(self) -> None:
        decoder = getattr(getattr(self._wsproto.connection, "_proto", None), "_frame_decoder", None)
        if type(decoder) is FrameDecoder:
            decoder.__class__ = _LimitedFrameDecoder
            decoder.max_message_size = self._max_message_size  # type: ignore[attr-defined]
            decoder.declared = 0  # type: ignore[attr-defined]

    async def _accept(self, request: Any, subprotocol: str | None, extra_headers: list[tuple[bytes, bytes]]) -> None:
        await super()._accept(request, subprotocol, extra_headers)
        self._limit_frames()

    async def _handle_accept_connection_event(self, event: Any) -> None:
        await super()._handle_accept_connection_event(event)
        self._limit_frames()

    async def _handle_message_event(self, event: Any) -> None:
        if self.failure is not None:
            return  # frames parsed from the same read, after we failed
        message = self._message_size + len(event.data)
        if message > self._max_message_size:
            await self._fail(message_too_big(self._max_message_size))
            return
        if self._queued + message > self.max_buffered_bytes:
            limit = self.max_buffered_bytes
            await self._fail(
                Failure(
                    1008,
                    f"more than {limit} bytes received and not read",
                    f"sent more than {limit} bytes that were not read yet (max_buffered_bytes, --max-buffered-bytes)",
                ),
                discard=True,
            )
            return
        if event.message_finished:
            self._queued += message
        self.peak_buffered = max(self.peak_buffered, self._queued + (0 if event.message_finished else message))
        await super()._handle_message_event(event)

    async def _handle_close_connection_event(self, event: CloseConnection) -> None:
        state = self._wsproto.state
        if state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            # no close frame came: this is wsproto failing to parse a frame
            await self._fail(_protocol_failure(event.code, event.reason or "protocol error"))
            return
        if state is ConnectionState.REMOTE_CLOSING:
            self.closed_by = "remote"
        await super()._handle_close_connection_event(event)

    async def _fail(self, failure: Failure, *, discard: bool = False) -> None:
        """Fail the connection (RFC 6455 7.1.7); runs in the reader task."""
        self.failure = failure
        if self._on_failure is not None:
            self._on_failure()
        self._reader_running = False
        with trio.CancelScope(shield=True):
            with trio.move_on_after(FAIL_LINGER):
                if self._wsproto.state is ConnectionState.OPEN:
                    self.closed_by = "local"
                    self._close_reason = CloseReason(failure.code, failure.reason)
                    try:
                        await self._send(CloseConnection(code=failure.code, reason=failure.reason))
                    except trio_websocket.ConnectionClosed:
                        pass
            if discard:
                await self._recv_channel.aclose()  # frees what the peer made us hold
                self._queued = 0
            self._message_parts = []
            self._message_size = 0
            await self._close_web_socket(failure.code, failure.reason)
            self._close_handshake.set()
            with trio.move_on_after(FAIL_LINGER):
                try:
                    while await self._stream.receive_some(self._receive_buffer_size):
                        pass
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            await self._close_stream()


async def wrap_server_stream(nursery: Any, stream: trio.abc.Stream, **kwargs: Any) -> trio_websocket.WebSocketRequest:
    """`trio_websocket.wrap_server_stream`, with a `WebSocket` connection."""
    connection = WebSocket(stream, WSConnection(ConnectionType.SERVER), **kwargs)
    nursery.start_soon(connection._reader_task)
    return await connection._get_request()


async def wrap_client_stream(
    nursery: Any,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    subprotocols: Any = None,
    extra_headers: Any = None,
    **kwargs: Any,
) -> WebSocket:
    """`trio_websocket.wrap_client_stream`, with a `WebSocket` connection."""
    connection = WebSocket(
        stream,
        WSConnection(ConnectionType.CLIENT),
        host=host,
        path=resource,
        client_subprotocols=subprotocols,
        client_extra_headers=extra_headers,
        **kwargs,
    )
    nursery.start_soon(connection._reader_task)
    await connection._open_handshake.wait()
    return connection
