"""One HTTP/1.1 server connection on a trio stream, through h11, with every size bounded.

h11 parses (it is already installed: wsproto depends on it) and bounds the
request head (`MAX_HEAD`, 431 past it); the body is bounded here, from the
Content-Length before a byte of it is read, and while reading a chunked one.
Waiting is the caller's: it wraps each call in a deadline.
"""

from __future__ import annotations

import dataclasses
import http

import h11
import trio

from wsctl.core.est_http import EstRequestError

#: bytes of request line + headers
MAX_HEAD = 16 * 1024
#: small reads keep h11's bound on an incomplete head close to MAX_HEAD
RECEIVE_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class Request:
    method: bytes
    target: bytes
    #: lower-case names; a repeated header keeps its last value
    headers: dict[bytes, bytes]


class HttpConnection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)

    async def _event(self):
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(bytes(await self.stream.receive_some(RECEIVE_SIZE)))

    async def next_request(self) -> Request | None:
        """The next request's head; None when the client closed between requests.
        A malformed head is an `EstRequestError` with h11's status (400, 431 ...)."""
        try:
            event = await self._event()
        except h11.RemoteProtocolError as exc:
            raise EstRequestError(exc.error_status_hint, f"malformed HTTP request: {exc}") from None
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):  # h11 gives a Request first or raises
            raise EstRequestError(400, "malformed HTTP request")
        return Request(event.method, event.target, {k.lower(): v for k, v in event.headers})

    async def body(self, request: Request, limit: int) -> bytes:
        """The whole body, at most LIMIT bytes (413 before reading when the length says so)."""
        length = request.headers.get(b"content-length")
        if length is not None and int(length) > limit:  # h11 checked it is digits
            raise EstRequestError(413, f"request body of {int(length)} bytes; at most {limit} accepted")
        if self.h11.they_are_waiting_for_100_continue:
            await self.stream.send_all(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        data = bytearray()
        while True:
            try:
                event = await self._event()
            except h11.RemoteProtocolError as exc:
                raise EstRequestError(exc.error_status_hint, f"malformed HTTP request body: {exc}") from None
            if isinstance(event, h11.Data):
                data += event.data
                if len(data) > limit:
                    raise EstRequestError(413, f"request body over {limit} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return bytes(data)
            else:
                raise EstRequestError(400, "the request body ended early")

    def can_respond(self) -> bool:
        return self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def respond(
        self, status: int, content_type: str, body: bytes, headers: tuple[tuple[str, str], ...] = (), *, close: bool
    ) -> None:
        fields = [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers]
        if close:
            fields.append(("Connection", "close"))
        reason = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
        out = self.h11.send(h11.Response(status_code=status, headers=fields, reason=reason))
        out += self.h11.send(h11.Data(data=body)) + self.h11.send(h11.EndOfMessage())
        await self.stream.send_all(out)

    def next_cycle(self) -> bool:
        """Ready for another request on this connection (keep-alive)?"""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False
