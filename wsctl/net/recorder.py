"""Recording a client session: `Recorder` is the recording file with the device side.

`wsctl.files.recording_writer.RecordingFile` writes the file (batches, rotation,
the crash bound); this adds what only the network has: `attach` wraps an open
`Device` so every message it sends and receives is recorded, and `open` is
`open_device` recorded (a failed connect becomes an ``error`` event).

Using it from a client verb (``watch --record``, ``connect --record``)::

    with Recorder.for_client(path, url, kwargs, profile=profile_id) as rec:
        async with rec.open(url, **kwargs) as dev:   # instead of open_device
            ...                                      # dev.send/receive are recorded

and with reconnects: ``run_with_reconnect(lambda: rec.open(url, **kwargs),
session, on_gap=rec.gap)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from wsctl.core.errors import ConnectionClosed, WsctlError
from wsctl.core.record.format import RecordingError
from wsctl.files.recording_writer import RecordingFile


class Recorder(RecordingFile):
    """A recording (see `RecordingFile` for its arguments) that client sessions are attached to."""

    def attach(self, device: Any, *, peer: dict[str, Any] | None = None) -> RecordingDevice:
        """Wrap an open `Device`: records ``open`` now and every message from here on."""
        conn = self.new_conn()
        self.note_device(url=device.url, subprotocol=device.subprotocol, fingerprint=device.peer_fingerprint)
        info = {"url": device.url, "subprotocol": device.subprotocol, "fingerprint": device.peer_fingerprint}
        if peer:
            info["peer"] = peer
        self.record("open", conn=conn, info=info)
        return RecordingDevice(device, self, conn)

    @contextlib.asynccontextmanager
    async def open(self, url: str, **kwargs: Any) -> AsyncIterator[RecordingDevice]:
        """``open_device(url, **kwargs)``, recorded: a failed connect becomes an
        ``error`` event, the session's end a ``close`` event."""
        from wsctl.net.api import open_device

        attached: RecordingDevice | None = None
        try:
            async with open_device(url, **kwargs) as raw:
                with self.attach(raw) as attached:
                    yield attached
        except WsctlError as exc:
            if attached is None and not isinstance(exc, RecordingError):
                self.record(
                    "error", conn=self._conns + 1, error=exc.message, info={"url": url, "exit_code": int(exc.exit_code)}
                )
            raise


class RecordingDevice:
    """A `Device` whose traffic is recorded; same methods, same errors, the
    same close rule (it wraps a `Channel` rather than being one: the recorder
    sits between the session and the device, see `wsctl.net.session`).

    Also a context manager: leaving it records how the session ended (an
    ``error`` event for a failure, a ``close`` by the tool unless the device
    closed first).

    On a `Channel` (a `Device`, a hub's `ServerConnection`) the recording is
    done by the channel's taps (`Channel.tap_in` ...): ``receive`` and
    ``send`` are the channel's own, with no coroutine of this class around
    them, and whoever reads the channel — this object, a `Session` on it —
    is recorded.  Leaving the ``with`` block takes the taps off again.  Any
    other device (a test's stand-in, a channel already tapped) is wrapped.
    """

    def __init__(self, device: Any, recorder: Recorder, conn: int) -> None:
        self.device = device
        self.recorder = recorder
        self.conn = conn
        self._close_recorded = False
        from wsctl.net.channel import Channel  # not at import: `record convert` has no network

        self._tapped = isinstance(device, Channel) and device.tap_in is None and device.tap_out is None
        if self._tapped:
            device.tap_in = recorder.message_tap(conn, "in")
            device.tap_out = recorder.message_tap(conn, "out")
            device.tap_closed = self._closed_by_device
            self.receive = device.receive  # type: ignore[method-assign]
            self.send = device.send  # type: ignore[method-assign]

    def _closed_by_device(self, exc: ConnectionClosed) -> None:
        self._record_close("in", exc.code, exc.reason)

    def _untap(self) -> None:
        if self._tapped:
            self._tapped = False
            self.device.tap_in = self.device.tap_out = self.device.tap_closed = None

    def __getattr__(self, name: str) -> Any:
        # url, subprotocol, peer_fingerprint, closed ... come from the device
        return getattr(self.device, name)

    def __enter__(self) -> RecordingDevice:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if isinstance(exc, RecordingError):
                return
            if isinstance(exc, WsctlError) and not isinstance(exc, ConnectionClosed):
                self.recorder.record("error", conn=self.conn, error=exc.message)
            self._record_close("out", 1000, "")
        except RecordingError:
            if exc is None:
                raise
        finally:
            self._untap()

    def _record_close(self, direction: str, code: int | None, reason: str | None) -> None:
        if self._close_recorded:
            return
        self._close_recorded = True
        closed = self.device.closed
        if closed is not None and direction == "out":
            code, reason = closed  # the close that actually happened
        self.recorder.record("close", dir=direction, conn=self.conn, code=code, reason=reason or None)

    async def send(self, message: str | bytes) -> None:
        from wsctl.net.channel import as_message

        message = as_message(message)
        try:
            await self.device.send(message)
        except ConnectionClosed as exc:
            self._record_close("in", exc.code, exc.reason)
            raise
        self.recorder.message("out", self.conn, message)

    async def receive(self, timeout: float | None = None) -> str | bytes:
        try:
            message = await self.device.receive(timeout)
        except ConnectionClosed as exc:
            self._record_close("in", exc.code, exc.reason)
            raise
        self.recorder.message("in", self.conn, message)
        return message

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        from wsctl.net.channel import iterate

        return iterate(self)  # the close rule of every connection (wsctl.net.channel)

    async def ping(self, timeout: float = 10.0) -> float:
        self.recorder.record("ping", dir="out", conn=self.conn)
        rtt = await self.device.ping(timeout)
        self.recorder.record("pong", dir="in", conn=self.conn, info={"rtt": round(rtt, 6)})
        return rtt

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._record_close("out", code, reason)
        await self.device.close(code, reason)
