"""The recording proxy: operators' tools connect here, we connect to the device.

For each client the proxy (a wss server with the device certificate from the
store, client certificates required like `serve`) opens the upstream with
`open_device` as an operator while the client's upgrade waits (offering the
client's subprotocols; the client is accepted with the device's choice),
then relays both ways unchanged — text as text,
binary as binary, a close code from one side is passed to the other — and
records both directions on one connection id: client → device is ``out``,
device → client is ``in``, exactly as a client-side recording, so a proxy
recording replays the same way.

Failures stay with their connection.  An upstream that refuses (connect,
TLS, HTTP status) closes the client with 1011 and the reason "bad gateway:
...", one that drops without a close frame with 1011 "upstream connection
lost"; both are recorded as ``error`` events.  (1014 "Bad Gateway" is the
registered code, but wsproto — so trio-websocket and the Python clients on
it — rejects it as an unknown reserved code and fails the connection with 1002.)  The server itself guards every
handler (one bad client never stops the proxy).  Only a recording that can
no longer be written stops the proxy: relaying without recording would
break its promise silently.  Every tool then gets close 1011 "recording
failed" (shielded, bounded) before the server is cancelled, so no tool sees
a bare connection loss (1006).

Roles.  The proxy connects upstream with *its* operator certificate, so the
device sees the proxy's role, not the tool's.  Relaying blindly would let any
tool act with that role, so the tool's own role (from its client
certificate) is checked here:

- with a profile, every tool → device message is judged by `wsctl.core.gate`:
  a message with more than one reading (duplicate keys, a request that is
  also a reply, a second command after a line break or separator ...) is not
  forwarded for anyone, nor is a request for a command the tool's role may
  not run — the tool gets the protocol's error, the refusal is recorded as an
  ``error`` event (never as a message: a replay must not send what the device
  never received) and logged.  A message the profile cannot attribute to a
  command (unknown command, a JSON-RPC notification, not JSON) is judged like
  a connection without a profile;
- without a profile, the proxy cannot judge commands: the tool's role must be
  at least the proxy's own on the ladder (admin roles: only the same role),
  otherwise the WebSocket upgrade is refused with HTTP 403.

Who the tool is reaches the device only when asked (``forward_client_cert``):
an ``x-forwarded-client-cert`` header on the upstream upgrade
(`wsctl.core.forwarded_cert`); no tool header is ever passed on, so a tool
cannot write that header itself.

Pings and pongs are relayed both ways with their payloads and recorded
(``ping``/``pong`` events, `wsctl.net._pings`); the proxy's own keepalive
pings upstream stay its own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, WsctlError
from wsctl.core.gate import Gate, Refusal, covers
from wsctl.core.record.format import RecordingError
from wsctl.net._guard import collapse
from wsctl.net._pings import ControlFrames
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


#: how long closing every tool may take when the recording fails
FAIL_CLOSE_TIMEOUT = 2.0
#: how long a device connection opened for a tool's upgrade waits for that
#: tool's session (an upgrade that fails after ``authorize`` never has one)
CLAIM_TIMEOUT = 10.0


class _Upstream:
    """The device connection for one tool, opened while the tool's upgrade waits
    (so the tool is accepted with the subprotocol the device chose), and held
    by a task of the proxy's own until the tool's session is over."""

    def __init__(self) -> None:
        self.ready = trio.Event()
        self.claimed = trio.Event()
        self.done = trio.Event()
        self.device: Any = None
        self.pings: ControlFrames | None = None
        self.failure: WsctlError | None = None

    async def hold(self, url: str, kwargs: dict[str, Any], forget: Any) -> None:
        from wsctl.net.api import open_device

        try:
            async with open_device(url, **kwargs) as device:
                self.device, self.pings = device, ControlFrames(device._ws, label=device.url)
                self.ready.set()
                with trio.move_on_after(CLAIM_TIMEOUT):
                    await self.claimed.wait()
                if self.claimed.is_set():
                    await self.done.wait()
        except WsctlError as exc:
            self.failure = exc
        finally:
            self.ready.set()
            forget()


def certificate_role(pem_path: Any) -> str | None:
    """The role (OU) of the operator certificate in a PEM file; None without one."""
    if not pem_path:
        return None
    from cryptography import x509

    from wsctl.pki.identity import identity_of

    try:
        with open(pem_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError):
        return None
    return identity_of(cert).role


def _peer(conn: Any) -> dict[str, Any]:
    ident = conn.identity
    out: dict[str, Any] = {"remote": conn.remote}
    if ident is not None:
        out.update({"name": ident.name, "role": ident.role, "fingerprint": ident.fingerprint})
    return out


class RecordingProxy:
    """``handler`` for `wsctl.net.server.serve`; one upstream connection per client."""

    def __init__(
        self,
        upstream: str,
        connect_kwargs: dict[str, Any],
        recorder: Recorder,
        *,
        profile: Any = None,
        upstream_role: str | None = None,
        forward_client_cert: bool = False,
        on_event: Any = None,
    ) -> None:
        self.upstream = upstream
        self.connect_kwargs = connect_kwargs
        self.recorder = recorder
        #: the profile commands are judged by; None: whole connections are judged
        self.profile = profile
        #: the role the proxy holds upstream (its operator certificate's)
        self.upstream_role = (
            upstream_role if upstream_role is not None else certificate_role(connect_kwargs.get("cert"))
        )
        #: tell the device who the tool is (x-forwarded-client-cert)
        self.forward_client_cert = forward_client_cert
        #: called with a dict per client session (opened/refused/denied/closed); CLI output
        self.on_event = on_event
        self.failed: RecordingError | None = None
        self._stop: trio.CancelScope | None = None
        self._clients: set[Any] = set()
        #: device connections opened for upgrades not yet handled, by the tool's address
        self._pending: dict[str, _Upstream] = {}
        self._holders: trio.Nursery | None = None

    def _emit(self, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(fields)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED, **serve_kwargs: Any) -> None:
        """Serve until cancelled; raises `RecordingError` if the recording fails."""
        from wsctl.net.server import serve

        serve_kwargs.setdefault("authorize", self.authorize)
        with trio.CancelScope() as self._stop:
            async with trio.open_nursery() as self._holders:
                await serve(self.handler, task_status=task_status, **serve_kwargs)
                self._holders.cancel_scope.cancel()
        if self.failed is not None:
            raise self.failed

    async def authorize(self, request: Any) -> Any:
        """Check the tool's role (without a profile), then open its device
        connection offering the tool's subprotocols: the tool is accepted with
        the device's choice."""
        from wsctl.net.server import Accept

        if self.profile is None:
            self._check_role(request)
        upstream = _Upstream()
        assert self._holders is not None
        self._pending[request.remote] = upstream
        self._holders.start_soon(
            upstream.hold,
            self.upstream,
            self._upstream_kwargs(request.identity, request.subprotocols),
            functools.partial(self._forget, request.remote, upstream),
        )
        await upstream.ready.wait()  # bounded: open_device has its own deadline
        return Accept(upstream.device.subprotocol if upstream.device is not None else None)

    def _forget(self, remote: str, upstream: _Upstream) -> None:
        if self._pending.get(remote) is upstream:
            del self._pending[remote]

    def _check_role(self, request: Any) -> None:
        """Without a profile: refuse (HTTP 403) a tool whose role is below the proxy's."""
        from wsctl.net.server import Reject

        ident = request.identity
        role = ident.role if ident is not None else None
        if not covers(role, self.upstream_role):
            who = (ident.name if ident is not None else None) or request.remote
            why = (
                f"role {role or '(none)'} may not act through this proxy, which holds role {self.upstream_role} upstream; "
                "without a profile it cannot check single commands, so tools need at least its role"
            )
            log.warning("%s refused: %s", who, why)
            self._emit(
                event="forbidden", conn=None, peer={"remote": request.remote, "name": who, "role": role}, error=why
            )
            raise Reject(403, why)

    async def _recording_failed(self, exc: RecordingError) -> None:
        if self.failed is None:
            self.failed = exc
            log.error("%s", exc.message)
        # every tool hears why (1011) before the server is cancelled; a
        # cancelled close would reach them as a bare connection loss (1006)
        with trio.move_on_after(FAIL_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            async with trio.open_nursery() as nursery:
                for client in list(self._clients):
                    if client.closed is None:
                        nursery.start_soon(client.close, 1011, "recording failed")
        if self._stop is not None:
            self._stop.cancel()

    async def handler(self, client: Any) -> None:
        self._clients.add(client)
        # first thing: a ping that comes while the upstream opens waits for it
        pings = ControlFrames(client._ws, label=client.remote)
        try:
            await self._session(client, pings)
        except RecordingError as exc:
            await self._recording_failed(exc)
        finally:
            self._clients.discard(client)

    def _upstream_kwargs(self, identity: Any, proposed: tuple[str, ...]) -> dict[str, Any]:
        kwargs = dict(self.connect_kwargs)
        configured = tuple(kwargs.get("subprotocols") or ())
        # the tool's offer; with --subprotocol/--profile only what both name
        # (a tool that offers none of them: the configured ones, as before)
        kwargs["subprotocols"] = (
            (tuple(p for p in proposed if p in configured) or configured) if configured else proposed
        )
        if self.forward_client_cert:
            from wsctl.core.forwarded_cert import HEADER, header_value

            headers = kwargs.get("headers") or ()
            items = headers.items() if isinstance(headers, Mapping) else headers
            # only the proxy writes it: one configured with --header is replaced too
            kept = [(k, v) for k, v in items if k.lower() != HEADER]
            if identity is not None:
                kept.append((HEADER, header_value(identity)))
            kwargs["headers"] = tuple(kept)
        return kwargs

    async def _session(self, client: Any, pings: ControlFrames) -> None:
        rec = self.recorder
        conn = rec.new_conn()
        peer = _peer(client)
        upstream = self._pending.pop(client.remote, None)
        if upstream is None:  # the upgrade took longer than CLAIM_TIMEOUT to finish
            rec.record(
                "error",
                conn=conn,
                error="upstream: the device connection was given up before the tool's upgrade finished",
                info={"peer": peer},
            )
            await client.close(1011, "bad gateway: upstream given up")
            return
        upstream.claimed.set()
        try:
            device, upstream_pings = upstream.device, upstream.pings
            if upstream.failure is not None or device is None or upstream_pings is None:
                exc = upstream.failure
                message = exc.message if exc is not None else "upstream connection lost"
                rec.record(
                    "error",
                    conn=conn,
                    error=f"upstream: {message}",
                    info={"peer": peer, "exit_code": int(exc.exit_code) if exc else 1},
                )
                self._emit(event="refused", conn=conn, peer=peer, error=message)
                await client.close(1011, _reason(f"bad gateway: {message}"))
                return
            rec.note_device(url=device.url, subprotocol=device.subprotocol, fingerprint=device.peer_fingerprint)
            rec.record(
                "open",
                conn=conn,
                info={
                    "url": device.url,
                    "subprotocol": device.subprotocol,
                    "fingerprint": device.peer_fingerprint,
                    "peer": peer,
                },
            )
            self._emit(event="opened", conn=conn, peer=peer, subprotocol=device.subprotocol)
            await self._relay(client, device, conn, peer, (pings, upstream_pings))
        finally:
            upstream.done.set()

    async def _refuse(
        self, client: Any, conn: int, peer: dict[str, Any], message: str | bytes, refusal: Refusal
    ) -> None:
        """A tool's request the proxy will not forward: recorded as an ``error``
        event (the request and the answer in its fields, never as messages, so a
        replay cannot send it), logged, and answered with the protocol's error."""
        request = message if isinstance(message, str) else message.decode("utf-8", "replace")
        info: dict[str, Any] = {"refused": refusal.command, "request": request, "peer": peer}
        if refusal.reason != "role":
            info["why"] = refusal.reason
        if refusal.reply is not None:
            info["reply"] = refusal.reply
        self.recorder.record("error", conn=conn, error=f"proxy refused: {refusal.detail}", info=info)
        log.warning("#%d %s: %s", conn, peer.get("name") or peer.get("remote"), refusal.detail)
        self._emit(event="denied", conn=conn, peer=peer, command=refusal.command, error=refusal.detail)
        if refusal.reply is not None:
            await client.send(refusal.reply)

    async def _relay(
        self, client: Any, device: Any, conn: int, peer: dict[str, Any], pings: tuple[ControlFrames, ControlFrames]
    ) -> None:
        rec = self.recorder
        ended: dict[str, Any] = {}

        gate = (
            Gate(self.profile, client.identity.role if client.identity is not None else None, self.upstream_role)
            if self.profile is not None
            else None
        )

        async def control(source: ControlFrames, sink: ControlFrames, direction: str) -> None:
            # pings and pongs in order per direction; the messages' pumps end the session
            async for kind, payload in source:
                rec.record(kind, dir=direction, conn=conn, data=payload)
                if not await sink.send(kind, payload):
                    return

        async def pump(
            source: Any, sink: Any, direction: str, names: tuple[str, str], cancel: trio.CancelScope
        ) -> None:
            # a close seen while receiving is the source's, while sending the sink's
            side = names[0]
            try:
                while True:
                    side = names[0]
                    message = await source.receive()
                    refusal = gate.judge(message) if gate is not None and direction == "out" else None
                    if refusal is not None:
                        side = names[0]  # the answer goes back to the tool
                        await self._refuse(client, conn, peer, message, refusal)
                        continue
                    rec.message(direction, conn, message)
                    side = names[1]
                    await sink.send(message)
            except ConnectionClosed as exc:
                ended.setdefault("by", (side, exc))
            cancel.cancel()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump, client, device, "out", ("client", "device"), nursery.cancel_scope)
                nursery.start_soon(pump, device, client, "in", ("device", "client"), nursery.cancel_scope)
                nursery.start_soon(control, pings[0], pings[1], "out")
                nursery.start_soon(control, pings[1], pings[0], "in")
        except BaseExceptionGroup as group:
            raise collapse(group) from None  # a RecordingError must reach `handler` as itself (trap 8)
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
