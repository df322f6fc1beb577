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
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, InvalidInput
from wsctl.net import websocket
from wsctl.net.channel import Channel
from wsctl.net.websocket import WebSocket

log = logging.getLogger("wsctl.net.server")


#: headers whose (name, value) pairs repeat from connection to connection: one
#: decoded pair shared by all of them (a connection keeps its upgrade headers
#: for its handler; ~900 bytes each decoded anew).  Never a header that carries
#: a secret or is unique per connection (Authorization, Sec-WebSocket-Key).
SHARED_HEADERS = frozenset(
    {
        b"host",
        b"upgrade",
        b"connection",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"user-agent",
        b"origin",
        b"pragma",
        b"cache-control",
        b"accept-encoding",
    }
)
#: bound of the shared pairs (a client cannot grow it past this)
SHARED_PAIRS_MAX = 512
_shared_pairs: dict[tuple[bytes, bytes], tuple[str, str]] = {}


def decoded_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The upgrade request's headers as text, sharing the common pairs."""
    out = []
    for name, value in raw:
        key = (name, value)
        pair = _shared_pairs.get(key)
        if pair is None:
            pair = (name.decode("latin-1"), value.decode("latin-1"))
            if name in SHARED_HEADERS and len(_shared_pairs) < SHARED_PAIRS_MAX:
                _shared_pairs[key] = pair
        out.append(pair)
    return tuple(out)


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
            else {
                "subject": ident.subject,
                "name": ident.name,
                "kind": ident.kind,
                "role": ident.role,
                "uri": ident.uri,
                "fingerprint": ident.fingerprint,
            },
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


def finish_record(rec: AccessRecord, ws: Any, *, handler_cancelled: bool) -> None:
    """Close code, who closed and why, and the buffer peak, once the WebSocket is done."""
    closed = ws.closed
    if closed is not None and rec.close_code is None:
        rec.close_code, rec.close_reason = closed.code, closed.reason
    if ws.closed_by is not None:
        rec.closed_by = "server" if ws.closed_by == "local" else "client"
    rec.peak_buffered = ws.peak_buffered
    failure = ws.failure
    if failure is not None and rec.outcome in ("open", "closed"):
        # the server failed the connection because of what the client sent
        rec.error = f"server closed with {failure.code}: the client {failure.detail}"
        if handler_cancelled:
            rec.error += "; the handler, still running after the close, was cancelled"
        log.warning("%s: %s", rec.who, rec.error)
    if rec.outcome == "open":
        rec.outcome = "closed"


class ServerConnection(Channel):
    """One accepted WebSocket, as a handler sees it (`wsctl.net.channel`: the
    same methods, errors and close rule as the client's `Device`)."""

    peer = "client"
    local = "server"

    def __init__(
        self,
        ws: WebSocket,
        record: AccessRecord,
        headers: tuple[tuple[str, str], ...],
        close_timeout: float,
    ) -> None:
        super().__init__(ws, record.remote, close_timeout)
        self.record = record
        self.identity = record.identity
        self.remote = record.remote
        self.path = record.path or "/"
        self.subprotocol = record.subprotocol
        self.headers = headers
        self._last_activity = trio.current_time()
        self._seen_frames = ws.frames_in
        #: the server's idle sweep started closing this connection
        self.idle_closing = False

    @property
    def buffered(self) -> int:
        """Bytes received from the peer and not yet read (bounded by the
        server's ``max_buffered_bytes``)."""
        return self._ws.buffered

    def _sent(self, message: str | bytes) -> None:
        rec = self.record
        rec.messages_out += 1
        rec.bytes_out += _size(message)
        self._last_activity = trio.current_time()

    def _received(self, message: str | bytes) -> None:
        rec = self.record
        rec.messages_in += 1
        rec.bytes_in += _size(message)
        self._last_activity = trio.current_time()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake, bounded by the server's close_timeout (`Channel.close`:
        an invalid code is `InvalidInput`, before anything is sent or logged)."""
        self._check_close_code(code)
        if self._ws.closed is None and self.record.close_code is None:
            # log what we sent, not the code the client's reply echoes
            self.record.close_code, self.record.close_reason = code, reason or None
        await super().close(code, reason)

    def idle_due(self, idle_timeout: float) -> float:
        """When this connection will have been idle for ``idle_timeout``.

        Life is a message sent or received, or a whole frame from the peer — its
        keepalive pings too, which the connection answers without the handler
        ever seeing them.  Bytes are not: a peer trickling a frame that never
        ends (a byte now and then, each inside the timeout) used to hold its
        connection for ever.  So a frame must be whole within ``idle_timeout``
        (600 s from the command line) of the last life: a frame counts when its
        last byte is read (`WebSocket.frames_in`, one addition per read)."""
        frames = self._ws.frames_in
        if frames != self._seen_frames:
            self._seen_frames = frames
            self._last_activity = trio.current_time()
        return self._last_activity + idle_timeout

    async def close_idle(self, idle_timeout: float) -> None:
        log.info("%s: idle for %g s, closing", self.record.who, idle_timeout)
        await self.close(1001, "idle timeout")


Handler = Callable[[ServerConnection], Awaitable[None]]


async def echo_handler(conn: ServerConnection) -> None:
    """Send every message back as it came (text stays text, binary stays binary)."""
    async for message in conn:
        await conn.send(message)


def no_upgrade(rec: AccessRecord, timed_out: float | None, bad: str | None, observed: Any) -> None:
    """The access record of a connection that brought no upgrade request:
    ``timed_out`` (the handshake timeout, when it ran out), ``bad`` (what was
    wrong with what it sent), ``observed`` (its `ObservedStream`)."""
    if timed_out is not None:
        rec.outcome, rec.error = "timeout", f"no WebSocket upgrade request within {timed_out:g} s"
    elif not bad and observed.received == 0 and observed.error is None:
        # e.g. a client whose pin or known-devices check failed after TLS
        rec.outcome, rec.error = "closed", "closed by the client before the upgrade request"
    else:  # what was wrong with it, not only that it was
        lost = f"connection lost: {observed.error}" if observed.error is not None else None
        rec.outcome = "bad-request"
        rec.error = f"not a WebSocket upgrade request: {bad}" if bad else lost or "not a WebSocket upgrade request"


def handler_failed(exc: BaseException) -> bool:
    """What ends only the handler's connection (1011): an `Exception` or a
    `SystemExit` (a handler's ``sys.exit()`` is its own failure, not the
    server's), alone or in the handler's own exception group.  Cancellation
    and `KeyboardInterrupt` (the program being stopped) are not."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split((Exception, SystemExit))
        return rest is None
    return isinstance(exc, (Exception, SystemExit))


def peer_left(exc: BaseException) -> bool:
    """Only `ConnectionClosed` inside an exception group: the peer left."""
    if not isinstance(exc, BaseExceptionGroup):
        return False
    _, rest = exc.split((ConnectionClosed, websocket.ConnectionClosed))
    return rest is None


def describe_failure(exc: BaseException) -> str:
    """``Type: message``; for a group, its own and each sub-exception's (the real errors)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        text += " [" + "; ".join(describe_failure(sub) for sub in exc.exceptions) + "]"
    return text


def check_port(port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"port must be 0 (any free port) to 65535, not {port!r}")


async def read_for_nobody(ws: websocket.WebSocket) -> None:
    """`read_unattended`; a peer's close seen there also stops a handler that
    does not notice within close_timeout (`Server._stop_handler_later`), as a failure does."""
    await ws.read_unattended()
    if ws._finished and ws.failure is None and ws._on_failure is not None:
        ws._on_failure()
