"""``/metrics`` on a server's TLS port (`serve|hub --metrics tls`), for operators.

A Prometheus scrape is a plain ``GET /metrics``, not a WebSocket upgrade, and
the WebSocket library refuses those with a bare 400 before a handler sees
them.  So, when asked for, the server hands each TLS connection to
`MetricsOnTLSPort.answer_scrape` first: it reads the request head, answers a
plain ``GET /metrics`` itself, and gives every other connection back with the
bytes it read replayed in front, so the upgrade goes on as if nothing had
looked.  Reading stops at the first bytes that cannot start ``GET /metrics``,
so an upgrade costs one extra look at its first chunk.

Who may read: an operator certificate with a ladder role (observer and up,
as ``observer+`` in a profile).  No certificate, a device's, or an admin role
alone gets 403 with the reason, and the connection's access line says so.
The text is rendered in a worker thread, as prometheus-client's own HTTP
listener does (the hub's gauges read its registry when scraped).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from wsctl.core.gate import covers
from wsctl.net._guard import close_tls

log = logging.getLogger("wsctl.net.metrics")

PATH = "/metrics"
#: the lowest role that may read the metrics (and every ladder role above it)
MIN_ROLE = "observer"
_REQUEST_START = b"GET " + PATH.encode()
#: a scrape's head is small; anything longer is left to the upgrade path's limits
HEAD_LIMIT = 16384


class _Replayed(trio.abc.HalfCloseableStream):
    """``inner`` with ``head`` (bytes already read from it) received first."""

    def __init__(self, inner: Any, head: bytes) -> None:
        self.inner = inner
        self.head = head

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self.head:
            size = len(self.head) if max_bytes is None else max_bytes
            data, self.head = self.head[:size], self.head[size:]
            return data
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        # as `ObservedStream` does: an https-compatible SSLStream's own aclose sends no close_notify
        if isinstance(self.inner, trio.SSLStream):
            await close_tls(self.inner)
        else:
            await self.inner.aclose()

    @property
    def transport_stream(self) -> Any:
        """Where trio-websocket finds the socket (its local and remote address)."""
        return getattr(self.inner, "transport_stream", self.inner)


def _http_response(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    )
    return head.encode("latin-1") + body


def refusal(identity: Any) -> str | None:
    """Why this peer may not read the metrics, or None when it may."""
    if identity is None:
        return f"{PATH} needs an operator certificate (role {MIN_ROLE} or above); the client sent none"
    if identity.kind != "operator":
        return f"{PATH} is for operator certificates (role {MIN_ROLE} or above), not a {identity.kind or 'plain'} certificate"
    if not covers(identity.role, MIN_ROLE):
        return f"role {identity.role or '(none)'} may not read {PATH}: it needs {MIN_ROLE} or above"
    return None


class MetricsOnTLSPort:
    """The server's ``http_endpoint``: ``metrics`` (`wsctl.net.metrics.ServerMetrics`) at ``/metrics``."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    async def answer_scrape(self, stream: Any, rec: Any, timeout: float) -> Any:
        """The stream to go on with the WebSocket upgrade, or None when this
        connection was a scrape (answered: 200 or 403) or sent nothing in time."""
        with trio.move_on_after(timeout) as deadline:
            head, request = await _read_scrape_request(stream)
        if deadline.cancelled_caught:
            rec.outcome, rec.error = "timeout", f"no WebSocket upgrade request within {timeout:g} s"
            return None
        if request is None:
            return _Replayed(stream, head)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.headers}
        target = request.target.decode("latin-1").split("?", 1)[0]
        if target != PATH or "upgrade" in headers:
            return _Replayed(stream, head)  # a WebSocket to /metrics is the handler's
        rec.path = PATH
        await self._answer(stream, rec, headers.get("accept"), timeout)
        return None

    async def _answer(self, stream: Any, rec: Any, accept: str | None, timeout: float) -> None:
        why = refusal(rec.identity)
        if why is None:
            from prometheus_client.exposition import choose_encoder

            encoder, content_type = choose_encoder(accept or "")
            body = await trio.to_thread.run_sync(encoder, self.metrics.registry)
            rec.outcome, rec.status = "scraped", 200
            answer = _http_response(200, "OK", content_type, body)
        else:
            log.warning("%s refused: %s", rec.who, why)
            rec.outcome, rec.status, rec.error = "rejected", 403, why
            answer = _http_response(403, "Forbidden", "text/plain; charset=utf-8", why.encode() + b"\n")
        with trio.move_on_after(timeout) as sending:  # a client that does not read is not waited for
            try:
                await stream.send_all(answer)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                rec.error = rec.error or "the client left before the answer"
        if sending.cancelled_caught:
            rec.error = rec.error or f"the client did not read the answer within {timeout:g} s"


async def _read_scrape_request(stream: Any) -> tuple[bytes, Any]:
    """The bytes read, and the request (an ``h11.Request``) when they are a
    whole ``GET /metrics...`` head; None as soon as they cannot be one, or on
    EOF or garbage (the upgrade path then says what is wrong).  An upgrade's
    first chunk already differs, so it is never parsed here."""
    import h11

    head = b""
    parser = None
    while True:
        if not _REQUEST_START.startswith(head[: len(_REQUEST_START)]):
            return head, None
        if len(head) >= len(_REQUEST_START):
            if parser is None:
                parser = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
                parser.receive_data(head)
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError:
                return head, None
            if isinstance(event, h11.Request):
                return head, event
            if event is not h11.NEED_DATA:
                return head, None
        try:
            chunk = await stream.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            chunk = b""
        if not chunk:
            return head, None
        head += chunk
        if parser is not None:
            parser.receive_data(chunk)
