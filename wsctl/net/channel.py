"""One open WebSocket, as wsctl's code and users see it — client or server side.

`Channel` is the only wrapper around the connection
(`wsctl.net.websocket.WebSocket`): `Device`
(the client's handle, `wsctl.net.api`) and `ServerConnection` (a server
handler's, `wsctl.net.serverconn`) are channels, and the recorder and the
proxy use them through these same methods.  It translates the connection's
errors once:

* ``send(str | bytes)``: ``bytearray`` and ``memoryview`` are sent as binary;
  any other type is `InvalidInput`.
* every close becomes `ConnectionClosed` with ``.code``/``.reason`` and a line
  saying who closed: "the device closed the connection with code 1001 ...",
  or, when we closed because of what the peer sent, "the client closed the
  connection with 1002 PROTOCOL_ERROR: the device sent an invalid frame".
* a close racing our send or ping is the same `ConnectionClosed`; a
  ``timeout`` is `Timeout`.

**The close rule** (one, for every connection and for `Session.events`):
``async for message in channel`` ends when the connection closed normally —
code 1000 or 1001, from either side — and raises `ConnectionClosed` for any
other end (1002 protocol error, 1006 lost, 1008 over a limit, 1011 ...).
`receive` raises `ConnectionClosed` for every close, normal or not.  A server
handler may let that `ConnectionClosed` escape: the server counts it as the
peer leaving, not as a handler failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, InvalidInput, Timeout, WsctlError
from wsctl.net import websocket
from wsctl.net.ws_frames import close_code_problem

#: close codes that end iteration instead of raising
NORMAL_CLOSE = frozenset({1000, 1001})


def ends_iteration(error: WsctlError | BaseException | None) -> bool:
    """The close rule: a normal close (1000/1001) ends iteration quietly."""
    return isinstance(error, ConnectionClosed) and error.code in NORMAL_CLOSE


def as_message(message: Any) -> str | bytes:
    """What a WebSocket sends: bytes-like as bytes, str as it is."""
    if isinstance(message, (str, bytes)):
        return message
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    raise InvalidInput(f"can only send str or bytes, not {type(message).__name__}")


class Channel:
    """An open WebSocket (`wsctl.net.websocket.WebSocket`) with wsctl's errors.

    Subclasses name the two sides (``peer``: who is at the other end,
    ``local``: us) and may count or trace messages in `_sent`/`_received`.
    """

    peer = "peer"
    local = "endpoint"

    #: a recorder's taps (`wsctl.net.recorder.RecordingDevice`): called with each
    #: message received and sent, and with the `ConnectionClosed` that `receive`
    #: or `send` raises.  Called in the channel's own methods, so recording adds
    #: no wrapper around them.
    tap_in: Callable[[str | bytes], None] | None = None
    tap_out: Callable[[str | bytes], None] | None = None
    tap_closed: Callable[[ConnectionClosed], None] | None = None

    def __init__(self, ws: websocket.WebSocket, where: str, close_timeout: float) -> None:
        self._ws = ws
        self._where = where
        self._close_timeout = close_timeout
        #: set when the connection was given up on locally (keepalive: no pong)
        self._dead: str | None = None

    # -- hooks -----------------------------------------------------------------
    def _sent(self, message: str | bytes) -> None:
        """Called after each message sent."""

    def _received(self, message: str | bytes) -> None:
        """Called after each message received."""

    # -- state -----------------------------------------------------------------
    @property
    def closed(self) -> tuple[int, str] | None:
        """(code, reason) once closed, else None."""
        reason = self._ws.closed
        return None if reason is None else (reason.code, reason.reason or "")

    def _closed_error(self, reason: websocket.CloseReason | None) -> ConnectionClosed:
        where = self._where
        if self._dead:
            return ConnectionClosed(f"{where}: {self._dead}", code=1006, reason=self._dead)
        if reason is None:
            return ConnectionClosed(f"{where}: connection closed", code=1006)
        failure = self._ws.failure
        if failure is not None:
            # we closed, because of what the peer sent: say so, not "closed by the peer"
            return ConnectionClosed(
                f"{where}: the {self.local} closed the connection with {reason.code} {reason.name}: the {self.peer} {failure.detail}",
                code=reason.code,
                reason=reason.reason or "",
            )
        text = f" ({reason.reason})" if reason.reason else ""
        by = f"the {self.peer} closed the connection" if self._ws.closed_by == "remote" else "connection closed"
        return ConnectionClosed(
            f"{where}: {by} with code {reason.code} {reason.name}{text}", code=reason.code, reason=reason.reason or ""
        )

    # -- messages --------------------------------------------------------------
    async def send(self, message: str | bytes) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as binary."""
        message = as_message(message)
        try:
            await self._ws.send_message(message)
        except websocket.ConnectionClosed as exc:
            raise self._tapped(self._closed_error(exc.reason)) from None
        self._sent(message)
        tap = self.tap_out
        if tap is not None:
            tap(message)

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message (``str`` for text, ``bytes`` for binary).

        Raises `ConnectionClosed` (with ``.code``/``.reason``) once the
        connection is closed, `Timeout` when ``timeout`` seconds pass without a message.
        """
        try:
            if timeout is None:
                message = await self._ws.get_message()
            else:
                with trio.fail_after(timeout):
                    message = await self._ws.get_message()
        except websocket.ConnectionClosed as exc:
            raise self._tapped(self._closed_error(exc.reason)) from None
        except trio.TooSlowError:
            raise Timeout(f"{self._where}: no message within {timeout:g} s") from None
        self._received(message)
        tap = self.tap_in
        if tap is not None:
            tap(message)
        return message

    def _tapped(self, error: ConnectionClosed) -> ConnectionClosed:
        if self.tap_closed is not None:
            self.tap_closed(error)
        return error

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return iterate(self)

    async def ping(self, timeout: float = 10.0) -> float:
        """Ping and wait for the pong; returns the round-trip time in seconds."""
        start = trio.current_time()
        try:
            with trio.fail_after(timeout):
                await self._ws.ping()
        except websocket.ConnectionClosed:
            raise self._closed_error(self._ws.closed) from None
        except trio.TooSlowError:
            raise Timeout(f"{self._where}: no pong within {timeout:g} s") from None
        return trio.current_time() - start

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake, bounded by ``close_timeout``; idempotent, never raises
        for the connection's reasons (lost, closed already, a peer that does not answer).

        A code no close frame may carry (below 1000, above 4999, an unregistered
        one in 1000-2999) is the caller's mistake: `InvalidInput`, before anything
        is sent and with the connection still open.  1005, 1006 and 1015, which only
        an endpoint reports, are sent as 1000."""
        self._check_close_code(code)
        await self._close(code, reason)

    def _check_close_code(self, code: int) -> None:
        problem = close_code_problem(code)
        if problem is not None:
            raise InvalidInput(f"{self._where}: cannot close with code {code!r}: {problem}")

    async def _close(self, code: int = 1000, reason: str = "", *, shield: bool = False) -> None:
        """`close`; with ``shield``, also when the caller is being cancelled (leaving
        ``open_device``'s block): one cancel scope for both, not one inside another."""
        with trio.CancelScope(deadline=trio.current_time() + self._close_timeout, shield=shield):
            try:
                await self._ws.aclose(code, reason or None)
            except (trio.BrokenResourceError, trio.ClosedResourceError, websocket.ConnectionClosed):
                pass


async def iterate(channel: Any) -> AsyncIterator[str | bytes]:
    """Messages from anything with ``receive()``, by the close rule (see the module)."""
    while True:
        try:
            message = await channel.receive()
        except ConnectionClosed as exc:
            if ends_iteration(exc):
                return
            raise
        yield message
