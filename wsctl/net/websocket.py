"""One open WebSocket on a trio stream, with no task of its own.

Data is read by whoever waits for it: `get_message`, a `ping` waiting for its
pong, an `aclose` waiting for the peer's close frame.  The first waiter reads a
chunk (``receive_buffer_size``, 64 KiB) and handles every frame in it — pongs
answered, close frames replied to, messages queued — and the other waiters
are woken when it is done, so a message read by one task goes to another
without a hop through a channel.  When nobody has waited for a while (a
handler that only sends, or does not read at all) the owner runs
`read_unattended` (the server: one sweep for all its connections; clients:
one sweep per trio run, `client_open.watch_unattended`), which reads until somebody waits again: pings are
answered, close frames seen, and the bound on buffered bytes holds.

Writes are coalesced (`wsctl.net.ws_writer`): frames sent while a write is
under way, or in a burst, are queued and go out together in one `send_all`.

What wsctl needs beyond a plain connection (the behaviour trio-websocket 0.12
lacked and wsctl used to patch in, built in):

- **Protocol errors close with a close frame.**  A frame the reader refuses
  (invalid UTF-8, unmasked client frame, reserved opcode, fragmented control
  frame, invalid close code) fails the connection as RFC 6455 7.1.7 says: our
  close frame with the code, a short linger for the peer's EOF, then the
  stream is closed.
- **Buffered bytes are bounded**: received messages not yet taken by
  `get_message` plus the message being assembled; past
  ``max_buffered_bytes`` the connection is closed with 1008 and what it held
  is dropped.
- **A frame header that announces more than the message limit is refused at
  once** (1009), instead of waiting for payload that may never come.

`failure` says what *we* closed for and `closed_by` who closed, so messages
can name the side that ended the connection and why.  `on_control` lets the
recording proxy take pings and pongs instead (`wsctl.net._pings`).

wsproto does the HTTP upgrade (`wsctl.net.ws_handshake`); the frames after it
are read and made by `wsctl.net.ws_frames` (the same checks and bytes as
wsproto's, a fifth of its cost per message, unmasking in C), and the closing
handshake's state is kept here.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

import trio
from trio.lowlevel import checkpoint_if_cancelled

from wsctl.net.ws_failures import CloseReason, ConnectionClosed, Failure, message_too_big, unread_over
from wsctl.net.ws_frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    FrameReader,
    close_code_problem,
    close_frame,
    control_frame,
    data_frame,
)
from wsctl.net.ws_writer import FrameWriter, WriteFailed, park, wake_all

#: After failing a connection: how long to read (and discard) what the peer
#: still sends, waiting for its EOF, before dropping it.  Closing a socket with
#: unread data makes the kernel send a RST, which can destroy the close frame
#: before the peer reads it.
FAIL_LINGER = 1.0

#: Before closing the stream: how long frames still queued (a burst's last
#: messages, the close frame) may take to be written.
DRAIN_TIMEOUT = 1.0
#: Default bound of received, not yet read bytes per connection (see module doc).
MAX_BUFFERED_BYTES = 4 * 2**20
#: Bytes per read: one chunk usually holds every frame that arrived.
RECEIVE_BUFFER_SIZE = 65536
#: Nobody waited for input this long: a server reads for the connection
#: (`read_unattended`; one sweep of all its connections at this interval).
#: Also how late a server handler that does not read answers a ping.
UNATTENDED_AFTER = 0.5
#: The same for clients (their sweep, `client_open._Sweep`): sooner, so that a
#: tool not reading for a moment still answers pings at once.
CLIENT_UNATTENDED_AFTER = 0.1

# the closing handshake (RFC 6455 7): a peer's close frame is answered at once,
# so there is no state between theirs and CLOSED
_OPEN, _LOCAL_CLOSING, _CLOSED = "open", "local-closing", "closed"
_LOST = (trio.BrokenResourceError, trio.ClosedResourceError)


#: bytes charged against ``max_buffered_bytes`` for each received message queued
#: and each fragment held, beyond its payload (a Python object and its slot)
HELD_COST = 64


class WebSocket:
    """An open WebSocket on ``stream`` (after the upgrade: `wsctl.net.ws_handshake`).

    The methods `wsctl.net.channel.Channel` uses: `get_message`,
    `send_message`, `ping`, `aclose`, `closed`; and `buffered`,
    `peak_buffered`, `failure`, `closed_by`, `when_failed` for the server.
    """

    __slots__ = (
        "_stream",
        "_reader",
        "_state",
        "subprotocol",
        "is_server",
        "max_message_size",
        "max_buffered_bytes",
        "_chunk",
        "failure",
        "_on_failure",
        "closed_by",
        "peak_buffered",
        "_messages",
        "_queued",
        "_parts",
        "_part_size",
        "_close_reason",
        "_stream_closed",
        "_waiting",
        "_reading",
        "_read_waiters",
        "_writer",
        "_pings",
        "on_control",
        "unattended_since",
        "on_unattended",
        "_pending",
        "frames_in",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        is_server: bool,
        subprotocol: str | None = None,
        max_message_size: int = 2**20,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        receive_buffer_size: int | None = RECEIVE_BUFFER_SIZE,
        initial: bytes = b"",
    ) -> None:
        """``initial``: bytes that came after the upgrade (the peer's first frames,
        parsed when somebody reads)."""
        self._stream = stream
        self._reader = FrameReader(server=is_server, max_message_size=max_message_size, initial=initial)
        self._state = _OPEN
        self.subprotocol = subprotocol
        self.is_server = is_server
        self.max_message_size = max_message_size
        self.max_buffered_bytes = max(max_buffered_bytes, max_message_size)
        self._chunk = receive_buffer_size or RECEIVE_BUFFER_SIZE
        #: why we closed because of the peer, or None (`when_failed` is told)
        self.failure: Failure | None = None
        self._on_failure: Callable[[], None] | None = None
        #: "local" or "remote" once one side sent a close frame; None when lost
        self.closed_by: str | None = None
        #: most bytes ever held for this connection (see `buffered`)
        self.peak_buffered = 0
        self._messages: deque[str | bytes] | None = None
        self._queued = 0
        self._parts: list[Any] | None = None
        self._part_size = 0
        self._close_reason: CloseReason | None = None
        self._stream_closed = False
        self._waiting = 0  # tasks waiting for input
        self._reading = False  # one of them is reading
        self._read_waiters: list[Any] | None = None
        self._writer = FrameWriter(stream)
        self._pings: dict[bytes, None] | None = None
        #: ``on_control(kind, payload) -> bool``: True takes the ping/pong (see `_pings`)
        self.on_control: Callable[[str, bytes], bool] | None = None
        #: when the last waiter for input left (None while one waits)
        self.unattended_since: float | None = trio.current_time()
        #: called with the connection each time its last waiter leaves (a server's sweep
        #: then looks at this connection only, not at every open one)
        self.on_unattended: Callable[[WebSocket], None] | None = None
        self._pending = bool(initial)  # frames came with the upgrade: handle before reading
        #: whole frames read from the peer, control frames too (a server's idle timer:
        #: the bytes of a frame that never ends are not life)
        self.frames_in = 0

    # -- state -----------------------------------------------------------------
    @property
    def closed(self) -> CloseReason | None:
        return self._close_reason

    @property
    def buffered(self) -> int:
        """Bytes of received messages not yet taken by `get_message`, plus the
        message being assembled (text counts characters, like max_message_size)
        and the frame still arriving."""
        return self._queued + self._part_size + self._reader.held

    @property
    def unsent(self) -> int:
        """Bytes of frames sent in a burst and not yet given to the stream
        (at most `ws_writer.WRITE_HIGH_WATER` plus one frame)."""
        return self._writer.queued

    @property
    def stream(self) -> trio.abc.Stream:
        return self._stream

    def when_failed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once we failed the connection (now, if we already did)."""
        if self.failure is not None:
            callback()
        else:
            self._on_failure = callback

    # -- messages --------------------------------------------------------------
    async def get_message(self) -> str | bytes:
        """The next message; messages that came before the peer's close frame
        are still returned, then `ConnectionClosed`."""
        while True:
            messages = self._messages
            if messages:
                await checkpoint_if_cancelled()
                message = messages.popleft()
                if not messages:
                    # an empty deque keeps its 760-byte block: most connections
                    # hold no message between reads, so hold no deque either
                    self._messages = None
                self._queued -= len(message) + HELD_COST
                return message
            if self._close_reason is not None:
                await checkpoint_if_cancelled()
                raise ConnectionClosed(self._close_reason)
            await self._wait_input()

    async def send_message(self, message: str | bytes) -> None:
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        await self._write(data_frame(message, self._key()))

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for its pong (or a later one)."""
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        pings = self._pings
        if pings is None:
            pings = self._pings = {}
        if payload is None:
            payload = os.urandom(4)
        if payload in pings:
            raise ValueError(f"payload {payload!r} is already in flight")
        pings[payload] = None
        try:
            await self._write(control_frame(PING, payload, self._key()))
            while payload in pings:
                if self._close_reason is not None:
                    raise ConnectionClosed(self._close_reason)
                await self._wait_input()
        finally:
            pings.pop(payload, None)

    async def send_control(self, kind: str, payload: bytes) -> None:
        """Send a ping or pong frame that nobody here waits for (a relayed one)."""
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        await self._write(control_frame(PING if kind == "ping" else PONG, payload, self._key()))

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close handshake (unbounded: the caller bounds it), then the stream; idempotent.

        Raises ValueError, before anything is sent, for a code no close frame may
        carry (`ws_frames.close_code_problem`)."""
        problem = close_code_problem(code)
        if problem is not None:
            raise ValueError(f"invalid close code {code!r}: {problem}")
        try:
            if self._close_reason is None and self._state is _OPEN:
                self.closed_by = "local"
                self._close_reason = CloseReason(code, reason)
                self._drop_messages()
                self._state = _LOCAL_CLOSING
                await self._write(close_frame(code, reason, self._key()), last=True)
                while self._state is _LOCAL_CLOSING and not self._stream_closed:
                    await self._wait_input()
        except ConnectionClosed:
            pass
        finally:
            self._lose()
            await self._close_stream()

    @property
    def finished(self) -> bool:
        """Nothing more will be read (the clients' sweep, `client_open._Sweep`)."""
        return self._finished

    @property
    def _finished(self) -> bool:
        """Nothing more will be read: the stream is closed or the closing handshake is done."""
        return self._stream_closed or self._state is _CLOSED

    def needs_reader(self, now: float, after: float = UNATTENDED_AFTER) -> bool:
        """Nobody has waited for input for ``after`` seconds, and nobody reads."""
        since = self.unattended_since
        return since is not None and now - since >= after and not self._reading and not self._finished

    async def read_unattended(self) -> None:
        """Read for nobody until somebody waits for input or the connection ends."""
        while not self._waiting and not self._reading and not self._finished:
            await self._read_chunk()

    # -- reading ---------------------------------------------------------------
    async def _wait_input(self) -> None:
        """Read one chunk, or wait while another task does."""
        self._waiting += 1
        self.unattended_since = None
        try:
            if self._reading:
                waiters = self._read_waiters
                if waiters is None:
                    waiters = self._read_waiters = []
                await park(waiters)
            else:
                await self._read_chunk()
        finally:
            self._waiting -= 1
            if not self._waiting:
                self.unattended_since = trio.current_time()
                if self.on_unattended is not None:
                    self.on_unattended(self)

    async def _read_chunk(self) -> None:
        self._reading = True
        try:
            if self._pending:
                self._pending = False
                data: bytes | bytearray = b""  # the reader holds what came with the upgrade
            elif self._finished:
                self._lose()
                await trio.lowlevel.checkpoint()
                return
            else:
                try:
                    data = await self._stream.receive_some(self._chunk)
                except _LOST:
                    data = b""
                if self._state is _CLOSED:
                    self._lose()  # closed by our side while this read waited
                    return
                if not data:
                    await self._eof()
                    return
            await self._handle_events(bytes(data))
        finally:
            self._reading = False
            wake_all(self._read_waiters)

    async def _handle_events(self, data: bytes) -> None:
        events, refused = self._reader.read(data)
        self.frames_in += len(events)
        replies: list[bytes] = []
        for kind, payload, finished in events:
            if kind <= BINARY:
                failure = self._take(payload, finished)
                if failure is not None:
                    await self._fail(failure, discard=failure.code == 1008)
                    return
            elif kind == PING:
                if self.on_control is None or not self.on_control("ping", payload):
                    if self._state is _OPEN:
                        replies.append(control_frame(PONG, payload, self._key()))
            elif kind == PONG:
                self._pong(payload)
            else:
                code, reason = payload
                await self._closing(code, reason, replies)
                return
        if refused is not None:
            await self._fail(refused)
            return
        if self._reader.held and self._over_with_partial_frame():
            await self._fail(unread_over(self.max_buffered_bytes), discard=True)
            return
        if replies:
            try:
                await self._write(b"".join(replies))
            except ConnectionClosed:
                pass

    def _take(self, data: str | bytes, finished: bool) -> Failure | None:
        """Add a data frame to the message it belongs to; a Failure when over a limit."""
        if self.failure is not None or self._close_reason is not None and self.closed_by == "local":
            return None  # frames after our close: dropped
        size = self._part_size + len(data)
        if size > self.max_message_size:
            return message_too_big(self.max_message_size)
        parts = self._parts
        # each fragment and each queued message held costs memory beyond its payload:
        # without this, empty frames (6 bytes on the wire) were held for free
        overhead = HELD_COST * ((len(parts) if parts else 0) + 1)
        if self._queued + size + overhead > self.max_buffered_bytes:
            return unread_over(self.max_buffered_bytes)
        if finished:
            if parts:
                parts.append(data)
                data = (b"" if type(data) is bytes else "").join(parts)
                self._parts = None
            self._part_size = 0
            message = data
            messages = self._messages
            if messages is None:
                messages = self._messages = deque()
            messages.append(message)
            self._queued += size + HELD_COST
            held = self._queued
        else:
            if data:  # an empty fragment adds nothing to the message: not kept
                if parts is None:
                    parts = self._parts = []
                parts.append(data)
            self._part_size = size
            held = self._queued + size + overhead
        if held > self.peak_buffered:
            self.peak_buffered = held
        return None

    def _over_with_partial_frame(self) -> bool:
        """What is held, with a frame still arriving, is over the bound (and counted in the peak)."""
        if self.failure is not None or self._close_reason is not None and self.closed_by == "local":
            return False  # what comes after our close is dropped anyway
        held = self.buffered
        if held > self.max_buffered_bytes:
            return True
        if held > self.peak_buffered:  # the peak within the bound, as `_take` counts it
            self.peak_buffered = held
        return False

    def _pong(self, payload: bytes) -> None:
        pings = self._pings
        if pings and payload in pings:
            # a pong answers its ping and every earlier one (RFC 6455 5.5.3)
            for key in list(pings):
                del pings[key]
                if key == payload:
                    break
        elif self.on_control is not None:
            self.on_control("pong", payload)

    async def _closing(self, code: int, reason: str, replies: list[bytes]) -> None:
        """The peer's close frame: theirs first (answered now), or the answer to ours."""
        if self._state is _OPEN:
            self.closed_by = "remote"
            self._close_reason = CloseReason(code, reason or None)
            self._state = _CLOSED
            # the same code back; an empty close (1005, "no status") gets an empty one
            replies.append(close_frame(None if code == 1005 else code, reason, self._key()))
            # shielded (bounded), as `_fail`'s close: a caller's deadline that ran out as
            # the peer's close was read must not leave it unanswered — the state is
            # CLOSED already, so nobody would answer it later
            with trio.CancelScope(shield=True):
                with trio.move_on_after(DRAIN_TIMEOUT):
                    try:
                        await self._write(b"".join(replies), last=True)
                    except ConnectionClosed:
                        pass
                    if self.is_server:
                        await self._close_stream()  # RFC 6455 7.1.1: the server closes TCP first
            return
        self._state = _CLOSED
        self._close_reason = CloseReason(code, reason or None)  # the reply to ours
        if self.is_server:
            # RFC 6455 7.1.1: the server closes the TCP connection first
            await self._close_stream()

    async def _eof(self) -> None:
        """The peer's end of the stream, with no close frame before it (1006)."""
        self._state = _CLOSED
        self._lose()
        if self.is_server:
            await self._close_stream()

    def _key(self) -> bytes | None:
        """A fresh masking key for a client's frame (RFC 6455 5.3); a server masks nothing."""
        return None if self.is_server else os.urandom(4)

    def _drop_messages(self) -> None:
        self._messages = None
        self._queued = 0

    def _lose(self) -> None:
        if self._close_reason is None:
            self._close_reason = CloseReason(1006, None)

    async def _fail(self, failure: Failure, *, discard: bool = False) -> None:
        """Fail the connection (RFC 6455 7.1.7)."""
        self.failure = failure
        self._reader.drop()  # nothing more is parsed: the frame under way is let go at once
        if self._on_failure is not None:
            self._on_failure()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(FAIL_LINGER):
                if self._state is _OPEN:
                    self.closed_by = "local"
                    self._close_reason = CloseReason(failure.code, failure.reason)
                    self._state = _LOCAL_CLOSING
                    try:
                        await self._write(close_frame(failure.code, failure.reason, self._key()), last=True)
                    except ConnectionClosed:
                        pass
            if discard:
                self._drop_messages()  # frees what the peer made us hold
            self._parts = None
            self._part_size = 0
            self._lose()
            with trio.move_on_after(FAIL_LINGER):
                try:
                    await self._discard_until_peer_done()
                except _LOST:
                    pass
            await self._close_stream()

    async def _discard_until_peer_done(self) -> None:
        """Read and drop what the peer still sends until its EOF — or, on a server,
        its close frame: a client answers our close and then waits for us to close
        TCP (RFC 6455 7.1.1).  Only small frames are looked at (a close is ≤ 125
        bytes); bytes that are not frames just wait for the EOF or the linger."""
        scan = FrameReader(server=True, max_message_size=125) if self.is_server else None
        while not self._stream_closed and (data := await self._stream.receive_some(self._chunk)):
            if scan is not None:
                events, bad = scan.read(bytes(data))
                if any(kind == CLOSE for kind, _, _ in events):
                    return
                if bad is not None:
                    scan = None

    # -- writing ---------------------------------------------------------------
    async def _write(self, data: bytes | bytearray, *, last: bool = False) -> None:
        """Send ``data`` (`wsctl.net.ws_writer`: sent now, or queued in a burst);
        ``last``: it holds the close frame, nothing may follow it."""
        if self._stream_closed:
            raise self._closed_error()
        try:
            await self._writer.write(data, last=last)
        except WriteFailed:
            raise self._closed_error() from None
        except BaseException:
            if self._writer.failed:  # cancelled part-way through a frame: `_abandon`
                await self._abandon()
            raise

    async def _abandon(self) -> None:
        """A write stopped part-way through a frame (its sender was cancelled): the
        stream cannot carry another frame, not even a close frame, so it is closed at
        once and the peer sees it end; later sends raise `ConnectionClosed` (1006)."""
        if self._close_reason is None:
            self._close_reason = CloseReason(1006, "a send was cancelled part-way: connection dropped")
        self._state = _CLOSED
        if not self._stream_closed:
            self._stream_closed = True
            await trio.aclose_forcefully(self._stream)

    def _closed_error(self) -> ConnectionClosed:
        self._lose()
        assert self._close_reason is not None
        return ConnectionClosed(self._close_reason)

    async def _close_stream(self) -> None:
        if not self._stream_closed:
            try:
                if self._writer.stuck:
                    # the end of a burst and its close frame may still be queued
                    # (a scope only then: most closes have nothing to wait for)
                    with trio.move_on_after(DRAIN_TIMEOUT):
                        await self._writer.drain()
            finally:
                if not self._stream_closed:
                    self._stream_closed = True
                    if self._writer.stuck:
                        # a write the peer does not take holds the TLS stream's send lock,
                        # which a graceful close would wait for
                        await trio.aclose_forcefully(self._stream)
                    else:
                        await self._stream.aclose()
