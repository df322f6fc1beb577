"""What a server handler sees: the connection, the access record, rejections.

`ServerConnection` wraps one accepted WebSocket for a handler; `AccessRecord`
is what is logged once per connection when it ends (docs/client-server.md
lists its fields); `Reject` and `ConnectionRequest` are the ``authorize``
hook's vocabulary.  The server itself (admission, handshakes, shutdown) is
`wsctl.net.server`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import trio
import trio_websocket
from wsproto.utilities import LocalProtocolError

from wsctl.core.errors import ConnectionClosed, Timeout

log = logging.getLogger("wsctl.net.server")


@dataclasses.dataclass
class AccessRecord:
    """What happened on one connection; emitted once, when it ends.

    ``outcome``: ``closed`` (normal), ``rejected`` (HTTP status in ``status``),
    ``refused`` (no handshake slot: evicted or too many from its address),
    ``tls-failed``, ``bad-request``, ``timeout``, ``handler-error``.
    ``closed_by``: ``server`` or ``client``, the side that sent the first close
    frame (None when the connection was lost or never opened).
    ``peak_buffered``: most bytes received and not yet read by the handler.
    """

    remote: str
    started: float = dataclasses.field(default_factory=time.time)
    identity: Any = None  # wsctl.pki.identity.Identity | None
    path: str | None = None
    subprotocol: str | None = None
    outcome: str = "open"
    status: int | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    duration: float = 0.0
    peak_buffered: int = 0
    error: str | None = None

    @property
    def who(self) -> str:
        ident = self.identity
        if ident is None:
            return self.remote
        name = ident.name or ident.common_name or ident.subject
        role = f" role={ident.role}" if ident.role else ""
        return f"{self.remote} ({ident.kind or 'cert'} {name}{role})"

    def as_dict(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "remote": self.remote,
            "identity": None
            if ident is None
            else {"subject": ident.subject, "name": ident.name, "kind": ident.kind, "role": ident.role, "uri": ident.uri, "fingerprint": ident.fingerprint},
            "path": self.path,
            "subprotocol": self.subprotocol,
            "outcome": self.outcome,
            "status": self.status,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
            "closed_by": self.closed_by,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration": round(self.duration, 6),
            "peak_buffered": self.peak_buffered,
            "error": self.error,
        }


class Reject(Exception):
    """Raise from ``authorize`` to refuse the WebSocket upgrade with an HTTP status."""

    def __init__(self, status: int = 403, body: str = "", headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.headers = list(headers)


@dataclasses.dataclass(frozen=True)
class Accept:
    """Return from ``authorize`` to choose the subprotocol of this connection
    (one the client proposed, or None), instead of the server's list; a
    recording proxy answers with the device's choice."""

    subprotocol: str | None = None


@dataclasses.dataclass(frozen=True)
class ConnectionRequest:
    """What ``authorize`` sees before the upgrade is accepted."""

    remote: str
    identity: Any
    path: str
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]


def _size(message: str | bytes) -> int:
    return len(message) if isinstance(message, bytes) else len(message.encode("utf-8", "surrogatepass"))


class ServerConnection:
    """One accepted WebSocket, as a handler sees it."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, record: AccessRecord, headers: tuple[tuple[str, str], ...], close_timeout: float) -> None:
        self._ws = ws
        self.record = record
        self.identity = record.identity
        self.remote = record.remote
        self.path = record.path or "/"
        self.subprotocol = record.subprotocol
        self.headers = headers
        self._close_timeout = close_timeout
        self._last_activity = trio.current_time()

    @property
    def closed(self) -> trio_websocket.CloseReason | None:
        return self._ws.closed

    @property
    def buffered(self) -> int:
        """Bytes received from the peer and not yet read (bounded by the
        server's ``max_buffered_bytes``)."""
        return self._ws.buffered  # type: ignore[attr-defined, no-any-return]

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        try:
            await self._ws.send_message(message)
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc.reason, self.remote) from None
        except LocalProtocolError:  # trap 6: closing under our feet
            raise _closed(self._ws.closed, self.remote) from None
        rec = self.record
        rec.messages_out += 1
        rec.bytes_out += _size(message)
        self._last_activity = trio.current_time()

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message; `ConnectionClosed` once the peer is gone."""
        try:
            if timeout is None:
                message = await self._ws.get_message()
            else:
                with trio.fail_after(timeout):
                    message = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc.reason, self.remote) from None
        except trio.TooSlowError:
            raise Timeout(f"{self.remote}: no message within {timeout:g} s") from None
        rec = self.record
        rec.messages_in += 1
        rec.bytes_in += _size(message)
        self._last_activity = trio.current_time()
        return message

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.receive()
            except ConnectionClosed:
                return

    async def ping(self, timeout: float = 10.0) -> None:
        try:
            with trio.fail_after(timeout):
                await self._ws.ping()
        except (trio_websocket.ConnectionClosed, LocalProtocolError):
            raise _closed(self._ws.closed, self.remote) from None
        except trio.TooSlowError:
            raise Timeout(f"{self.remote}: no pong within {timeout:g} s") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake, bounded by the server's close_timeout; never raises."""
        if self._ws.closed is None and self.record.close_code is None:
            # trio-websocket reports 1000 for any close we start; log what we sent
            self.record.close_code, self.record.close_reason = code, reason or None
        with trio.move_on_after(self._close_timeout):
            try:
                await self._ws.aclose(code, reason or None)
            except (LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError, trio_websocket.ConnectionClosed):
                pass

    async def _idle_watch(self, idle_timeout: float, observed: Any = None) -> None:
        # any bytes from the peer count as life — its keepalive pings too, which
        # trio-websocket answers without the handler ever seeing them
        seen = observed.received if observed is not None else 0
        while self._ws.closed is None:
            if observed is not None and observed.received != seen:
                seen = observed.received
                self._last_activity = trio.current_time()
            left = self._last_activity + idle_timeout - trio.current_time()
            if left <= 0:
                log.info("%s: idle for %g s, closing", self.record.who, idle_timeout)
                await self.close(1001, "idle timeout")
                return
            await trio.sleep(left)


def _closed(reason: trio_websocket.CloseReason | None, remote: str) -> ConnectionClosed:
    if reason is None:
        return ConnectionClosed(f"{remote}: connection closed", code=1006)
    text = f" ({reason.reason})" if reason.reason else ""
    return ConnectionClosed(f"{remote}: connection closed with code {reason.code}{text}", code=reason.code, reason=reason.reason or "")


Handler = Callable[[ServerConnection], Awaitable[None]]


async def echo_handler(conn: ServerConnection) -> None:
    """Send every message back as it came (text stays text, binary stays binary)."""
    async for message in conn:
        await conn.send(message)
