"""The recording proxy: operators' tools connect here, we connect to the device.

For each client the proxy (a wss server with the device certificate from the
store, client certificates required like `serve`) opens the upstream with
`open_device` as an operator, then relays both ways unchanged — text as text,
binary as binary, a close code from one side is passed to the other — and
records both directions on one connection id: client → device is ``out``,
device → client is ``in``, exactly as a client-side recording, so a proxy
recording replays the same way.

Failures stay with their connection.  An upstream that refuses (connect,
TLS, HTTP status) closes the client with 1011 and the reason "bad gateway:
...", one that drops without a close frame with 1011 "upstream connection
lost"; both are recorded as ``error`` events.  (1014 "Bad Gateway" is the
registered code, but wsproto — so trio-websocket, so wsctl's own clients —
rejects it as an unknown reserved code and fails the connection with 1002.)  The server itself guards every
handler (one bad client never stops the proxy).  Only a recording that can
no longer be written stops the proxy: relaying without recording would
break its promise silently.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, WsctlError
from wsctl.core.record.format import RecordingError
from wsctl.net.recorder import Recorder

log = logging.getLogger("wsctl.net.proxy")

#: close codes that must never be sent in a close frame (RFC 6455 7.4.1)
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}


def _sendable(code: int | None) -> int:
    if code is None:
        return 1011
    return _UNSENDABLE.get(code, code)


def _reason(text: str) -> str:
    """A close reason fits 123 bytes of UTF-8."""
    return text.encode("utf-8")[:123].decode("utf-8", "ignore")


def _peer(conn: Any) -> dict[str, Any]:
    ident = conn.identity
    out: dict[str, Any] = {"remote": conn.remote}
    if ident is not None:
        out.update({"name": ident.name, "role": ident.role, "fingerprint": ident.fingerprint})
    return out


class RecordingProxy:
    """``handler`` for `wsctl.net.server.serve`; one upstream connection per client."""

    def __init__(self, upstream: str, connect_kwargs: dict[str, Any], recorder: Recorder, *, on_event: Any = None) -> None:
        self.upstream = upstream
        self.connect_kwargs = connect_kwargs
        self.recorder = recorder
        #: called with a dict per client session (opened/refused/closed); CLI output
        self.on_event = on_event
        self.failed: RecordingError | None = None
        self._stop: trio.CancelScope | None = None

    def _emit(self, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(fields)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED, **serve_kwargs: Any) -> None:
        """Serve until cancelled; raises `RecordingError` if the recording fails."""
        from wsctl.net.server import serve

        with trio.CancelScope() as self._stop:
            await serve(self.handler, task_status=task_status, **serve_kwargs)
        if self.failed is not None:
            raise self.failed

    def _recording_failed(self, exc: RecordingError) -> None:
        self.failed = exc
        log.error("%s", exc.message)
        if self._stop is not None:
            self._stop.cancel()

    async def handler(self, client: Any) -> None:
        try:
            await self._session(client)
        except RecordingError as exc:
            self._recording_failed(exc)
            await client.close(1011, "recording failed")

    async def _session(self, client: Any) -> None:
        from wsctl.net.api import open_device

        rec = self.recorder
        conn = rec.new_conn()
        kwargs = dict(self.connect_kwargs)
        if client.subprotocol:
            kwargs["subprotocols"] = (client.subprotocol,)
        peer = _peer(client)
        opened = False
        try:
            async with open_device(self.upstream, **kwargs) as device:
                opened = True
                rec.note_device(url=device.url, subprotocol=device.subprotocol, fingerprint=device.peer_fingerprint)
                rec.record("open", conn=conn, info={"url": device.url, "subprotocol": device.subprotocol, "fingerprint": device.peer_fingerprint, "peer": peer})
                self._emit(event="opened", conn=conn, peer=peer, subprotocol=device.subprotocol)
                await self._relay(client, device, conn, peer)
        except WsctlError as exc:
            if opened or isinstance(exc, RecordingError):
                raise
            rec.record("error", conn=conn, error=f"upstream: {exc.message}", info={"peer": peer, "exit_code": int(exc.exit_code)})
            self._emit(event="refused", conn=conn, peer=peer, error=exc.message)
            await client.close(1011, _reason(f"bad gateway: {exc.message}"))

    async def _relay(self, client: Any, device: Any, conn: int, peer: dict[str, Any]) -> None:
        rec = self.recorder
        ended: dict[str, Any] = {}

        async def pump(source: Any, sink: Any, direction: str, names: tuple[str, str], cancel: trio.CancelScope) -> None:
            # a close seen while receiving is the source's, while sending the sink's
            side = names[0]
            try:
                while True:
                    side = names[0]
                    message = await source.receive()
                    rec.message(direction, conn, message)
                    side = names[1]
                    await sink.send(message)
            except ConnectionClosed as exc:
                ended.setdefault("by", (side, exc))
            cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, client, device, "out", ("client", "device"), nursery.cancel_scope)
            nursery.start_soon(pump, device, client, "in", ("device", "client"), nursery.cancel_scope)
        side, exc = ended.get("by", ("proxy", None))
        code = exc.code if exc is not None else 1001
        reason = (exc.reason if exc is not None else "proxy shutting down") or ""
        # which side closed first decides the direction; the other side hears the same code
        if side == "device" and code == 1006:
            rec.record("error", conn=conn, error="upstream connection lost without a close frame")
            rec.record("close", dir="in", conn=conn, code=1006, reason=reason or None)
            await client.close(1011, "upstream connection lost")
        elif side == "device":
            rec.record("close", dir="in", conn=conn, code=code, reason=reason or None)
            await client.close(_sendable(code), reason)
        else:
            rec.record("close", dir="out", conn=conn, code=code, reason=reason or None)
            await device.close(_sendable(code), reason)
        self._emit(event="closed", conn=conn, peer=peer, by=side, code=code)
