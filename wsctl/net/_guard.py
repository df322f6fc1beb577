"""The stream beneath a WebSocket, and the TLS steps around it.

`ObservedStream` is a pass-through that remembers the first transport error:
an `ssl.SSLError` (e.g. the TLS 1.3 "certificate required" alert, which only
arrives on the first read after the handshake) would otherwise become a bare
1006 close and the reason would be lost.  It also keeps the first bytes a
client read (what a failed upgrade really got) and counts what arrived (the
server's idle sweep).  Closing it sends TLS close_notify (`close_tls`).
`tls_handshake` runs a server's TLS handshake without leaving a reference
cycle; `collapse` unwraps a nursery's one real exception (trap 8).
"""

from __future__ import annotations

from typing import Any

import trio

#: Bound on sending TLS close_notify: a peer that stopped reading must not
#: hold a close up.
CLOSE_NOTIFY_TIMEOUT = 0.5


async def close_tls(tls: trio.SSLStream) -> None:
    """Send close_notify, then close; bounded, shielded, never raises.

    Streams are made with ``https_compatible=True`` so that a peer hanging up
    without close_notify (most devices) reads as EOF, not as an error; trio then
    never sends one either, and OpenSSL peers log "unexpected eof".  Nothing
    reads after close, so the flag is turned off for this last step: trio then
    sends close_notify without waiting for the answer.  (`SSLStream.unwrap`,
    the public route, waits for the peer's close_notify, which many never send.)
    """
    tls._https_compatible = False
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + CLOSE_NOTIFY_TIMEOUT
        try:
            await tls.aclose()  # on timeout trio closes the transport forcefully
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await trio.aclose_forcefully(tls.transport_stream)


async def tls_handshake(tls: trio.SSLStream) -> None:
    """`tls.do_handshake()`, leaving no reference cycle behind.

    trio's SSLStream keeps its handshake as ``_Once(self._do_handshake)``: a
    bound method of itself, so every stream (with its socket, SSL object and
    buffers) stayed alive until a full garbage collection found the cycle.
    Once the handshake has started, trio never calls it again (later calls
    wait for it or see the stream broken or closed): the method is dropped
    then.  trio internals (0.35); tests/net/test_net_garbage.py fails if this
    stops working.
    """
    try:
        await tls.do_handshake()
    finally:
        once = getattr(tls, "_handshook", None)
        if once is not None and getattr(once, "started", False):
            if once.done:
                # one finished handshake shared by every stream: its own kept an
                # Event (264 bytes per connection) nobody waits on once it is set
                tls._handshook = _finished(type(once))
            else:
                once._afn = _handshake_done
                once._args = ()


async def _handshake_done() -> None:
    """Stands in for a started handshake (never awaited: see `tls_handshake`)."""


_finished_onces: dict[type, Any] = {}


def _finished(cls: type) -> Any:
    """A `_Once` of trio's that has run: ``done``, and ``ensure`` returns at once."""
    once = _finished_onces.get(cls)
    if once is None:
        once = _finished_onces[cls] = cls(_handshake_done)
        once.started = True
        once._done.set()
    return once


class ObservedStream(trio.abc.HalfCloseableStream):
    """A pass-through stream that keeps the first exception it saw."""

    __slots__ = ("inner", "error", "received", "head", "head_size", "closed")

    #: first bytes kept, so a failed upgrade can say what the peer really sent
    HEAD_SIZE = 4096

    def __init__(self, inner: trio.abc.Stream, head_size: int = HEAD_SIZE) -> None:
        self.inner = inner
        self.received = 0
        self.head = b""
        #: a server never reads `head`: it passes 0 (4 KiB less per connection)
        self.head_size = head_size
        self.error: BaseException | None = None
        #: `aclose` has closed the transport (the client's `Device.close` need not again)
        self.closed = False

    def _note(self, exc: BaseException) -> None:
        if self.error is None:
            # trio wraps the ssl error: BrokenResourceError from SSLError.
            self.error = _kept(exc)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.inner.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._note(exc)
            raise

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._note(exc)
            raise
        if self.received < self.head_size:
            self.head += bytes(data[: self.head_size - self.received])
        self.received += len(data)
        return data

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        send_eof = getattr(self.inner, "send_eof", None)
        if send_eof is not None:
            await send_eof()

    async def aclose(self) -> None:
        if isinstance(self.inner, trio.SSLStream):
            await close_tls(self.inner)  # never raises: the transport is closed after it
        else:
            await self.inner.aclose()
        self.closed = True

    @property
    def transport_stream(self) -> Any:
        return getattr(self.inner, "transport_stream", self.inner)


def _kept(exc: BaseException) -> BaseException:
    """The error to remember, without a reference cycle.

    The exception being raised holds, in its traceback, the frame of
    `receive_some`/`send_all`, whose ``self`` is this stream: keeping it made a
    cycle through the whole connection (TLS object, socket, the WebSocket's
    state), so every closed connection waited for a full garbage collection
    (bench/gc_probe.py).  What is read later is the error's type, text and
    SSL attributes: trio's wrapper keeps its cause (raised in trio's frames,
    not ours), an error without one is kept as a fresh copy.
    """
    cause = exc.__cause__
    if cause is not None:
        return cause
    try:
        return type(exc)(*exc.args)
    except Exception:  # noqa: BLE001 - a type that cannot be rebuilt from its args: keep it
        return exc


def collapse(group: BaseExceptionGroup) -> BaseException:
    """The one real exception in a nursery's group, or the group itself.

    Used where a nursery wraps a caller's body: the caller raised X and must see
    X, not ExceptionGroup([X]) (trap 8).  Cancelled siblings are not news.
    """
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                walk(sub)
        else:
            leaves.append(exc)

    walk(group)
    if len(leaves) == 1:
        return leaves[0]
    real = [x for x in leaves if not isinstance(x, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    return group


def cancelled_only(exc: BaseException) -> trio.Cancelled | None:
    """The first `trio.Cancelled` of ``exc`` when it is one, or a group of nothing else."""
    if isinstance(exc, trio.Cancelled):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [cancelled_only(sub) for sub in exc.exceptions]
        if all(found):
            return found[0]
    return None


def unwrap_nursery(group: BaseExceptionGroup) -> BaseException:
    """What a caller's body raised through wsctl's own nursery around it: the one
    exception of the group's own layer that is not a cancellation, as it was
    raised (a body's own ExceptionGroup stays one); `trio.Cancelled` when there
    are only cancellations (the caller's scope, not news); else the group.

    Unlike `collapse`, nothing below the nursery's own layer is unwrapped.
    """
    real = [exc for exc in group.exceptions if cancelled_only(exc) is None]
    if len(real) == 1:
        return real[0]
    return cancelled_only(group) or group
