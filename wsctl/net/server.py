"""A wss server: own TLS listeners, one guarded task per connection.

trio-websocket's `serve_websocket` lets one handler's exception stop the whole
server (trap 1) and holds a client without a certificate for its 60 s
connect_timeout (trap 4).  Here each connection is handled by
`Server._connection`, which takes a handshake slot (`wsctl.net.admission`),
owns its TLS handshake (short timeout), reads the client's certificate, reads
the HTTP upgrade (`wsctl.net.ws_handshake`; the connection is a
`wsctl.net.websocket.WebSocket`, which bounds buffered bytes and closes
protocol errors with a close frame), and catches everything a peer or a
handler can throw.  A connection has no task of its own besides the one
running its handler: data is read by whoever waits for it, and one sweep per
server (`Server._read_unattended`) reads for handlers that do not.  What the handler sees is
in `wsctl.net.serverconn`.  One access record per connection goes to the logger
``wsctl.net.access`` and to the ``access_log`` callback.

Shutdown (the task running `serve` is cancelled, or `Server.close()`): stop
accepting, send close 1001 to every open peer (shielded, bounded by
``close_timeout``), cancel what is left, return.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, InvalidInput
from wsctl.net import tlserrors, websocket
from wsctl.net._guard import ObservedStream, close_tls, tls_handshake
from wsctl.net.admission import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_SOURCE, Admission, Entry, Refused, check_limits
from wsctl.net.serverconn import (
    Accept,
    AccessRecord,
    ConnectionRequest,
    Handler,
    Reject,
    ServerConnection,
    check_port,
    decoded_headers,
    describe_failure,
    echo_handler,
    finish_record,
    handler_failed,
    no_upgrade,
    peer_left,
    read_for_nobody,
)
from wsctl.net.tls import server_context_from_files
from wsctl.net.websocket import RECEIVE_BUFFER_SIZE, UNATTENDED_AFTER
from wsctl.net.ws_handshake import BadUpgrade, UpgradeRequest, read_request

__all__ = [
    "Accept",
    "AccessRecord",
    "ConnectionRequest",
    "Handler",
    "Reject",
    "Server",
    "ServerConnection",
    "echo_handler",
    "serve",
]

log = logging.getLogger("wsctl.net.server")
access_logger = logging.getLogger("wsctl.net.access")


async def _flush_alert(tls: trio.SSLStream) -> None:
    """Send the TLS alert OpenSSL wrote for a failed handshake, then linger.

    trio marks the stream broken and raises without flushing it, so the client
    would only see a reset; with the alert it can say "certificate required",
    "unknown ca", "certificate revoked" (trap 4).  `_outgoing` is trio's BIO.
    After the alert we half-close and drain what the client already sent (its
    HTTP request, on TLS 1.3): closing with unread data makes the kernel send a
    RST, and a RST can discard the alert before the client reads it.
    """
    bio = getattr(tls, "_outgoing", None)
    if bio is None:
        return
    data = bio.read()
    if not data:
        return
    transport = tls.transport_stream
    with trio.move_on_after(0.5):
        try:
            await transport.send_all(data)
            await transport.send_eof()
            while await transport.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


_IDENTITIES: dict[bytes, Any] = {}


def _identity(der: bytes) -> Any:
    """`peer_identity`, remembered per certificate: operators reconnect with the
    same one, and parsing it is ~5 % of a handshake (bench/)."""
    identity = _IDENTITIES.get(der)
    if identity is None:
        from wsctl.pki.identity import peer_identity

        identity = peer_identity(der)
        if len(_IDENTITIES) >= 512:
            _IDENTITIES.clear()
        _IDENTITIES[der] = identity
    return identity


def _fmt_addr(addr: Any) -> str:
    try:
        host, port = addr[0], addr[1]
    except (TypeError, IndexError):
        return str(addr)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class Server:
    """A running server, handed out by ``await nursery.start(serve, ...)``."""

    def __init__(
        self, handler: Handler, listeners: list[trio.SocketListener], ssl_context: ssl.SSLContext | None, **opts: Any
    ) -> None:
        self.handler = handler
        self.listeners = listeners
        self.ssl_context = ssl_context
        self.subprotocols: tuple[str, ...] = tuple(opts["subprotocols"])
        self.authorize = opts["authorize"]
        self.max_message_size: int = opts["max_message_size"]
        self.max_connections: int = opts["max_connections"]
        self.handshake_timeout: float = opts["handshake_timeout"]
        self.idle_timeout: float | None = opts["idle_timeout"]
        self.close_timeout: float = opts["close_timeout"]
        self.access_log = opts["access_log"]
        self.receive_buffer_size: int | None = opts["receive_buffer_size"]
        self.max_buffered_bytes: int = opts["max_buffered_bytes"]
        #: answers plain HTTP on the TLS port before the upgrade (`wsctl.net.metrics_tls`)
        self.http_endpoint = opts.get("http_endpoint")
        self.admission = Admission(
            max_connections=self.max_connections,
            max_handshakes=opts["max_handshakes"],
            max_handshakes_per_source=opts["max_handshakes_per_source"],
        )
        self.connections = 0  # live TCP connections: waiting, handshaking or open
        self.total = 0
        self._live: set[Entry] = set()
        #: connections whose last reader left since the last sweep (`_read_unattended`)
        self._unattended: set[Any] = set()
        self._closing = False
        self._scope: trio.CancelScope | None = None
        #: where connections' helper tasks run (unattended reads, stopping a handler)
        self._nursery: trio.Nursery | None = None
        #: rebuilds the TLS context when the CRL file changes (tls.CrlReloader)
        self.reloader: Any = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [tuple(lst.socket.getsockname()[:2]) for lst in self.listeners]  # type: ignore[misc]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    @property
    def host(self) -> str:
        return self.addresses[0][0]

    @property
    def url(self) -> str:
        """``wss://host:port/`` of the first listener (``ws://`` without TLS)."""
        scheme = "wss" if self.ssl_context else "ws"
        host, port = self.addresses[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"{scheme}://{_fmt_addr((host, port))}/"

    @property
    def urls(self) -> list[str]:
        """What is bound, as URLs (``wss://0.0.0.0:8443/`` for all interfaces)."""
        scheme = "wss" if self.ssl_context else "ws"
        return [f"{scheme}://{_fmt_addr(a)}/" for a in self.addresses]

    @property
    def wildcard(self) -> bool:
        """Bound on all interfaces (0.0.0.0 or ::)."""
        return any(host in ("0.0.0.0", "::") for host, _ in self.addresses)

    def client_urls(self) -> list[str]:
        """URLs a client can dial: for an all-interfaces bind, this host's own
        addresses (as its name resolves, plus loopback), else what is bound."""
        if not self.wildcard:
            return self.urls
        import socket

        scheme = "wss" if self.ssl_context else "ws"
        port = self.port
        try:
            own = socket.gethostbyname_ex(socket.gethostname())[2]
        except OSError:
            own = []
        hosts = list(dict.fromkeys([*(a for a in own if not a.startswith("127.")), "127.0.0.1"]))
        return [f"{scheme}://{_fmt_addr((h, port))}/" for h in hosts]

    def close(self) -> None:
        """Start a graceful shutdown; `serve` returns when it is done."""
        if self._scope is not None:
            self._scope.cancel()

    def _emit(self, rec: AccessRecord) -> None:
        access_logger.info(
            "%s %s %s status=%s close=%s in=%d/%dB out=%d/%dB %.3fs%s",
            rec.who,
            rec.path or "-",
            rec.outcome,
            rec.status or "-",
            rec.close_code or "-",
            rec.messages_in,
            rec.bytes_in,
            rec.messages_out,
            rec.bytes_out,
            rec.duration,
            f" error={rec.error}" if rec.error else "",
        )
        if self.access_log is not None:
            try:
                self.access_log(rec)
            except Exception:  # noqa: BLE001 - a broken log sink must not stop serving
                log.exception("access_log callback failed")

    async def _connection(self, tcp: trio.SocketStream) -> None:
        if self._closing:
            await trio.aclose_forcefully(tcp)
            return
        try:
            peer = tcp.socket.getpeername()
            remote, source = _fmt_addr(peer), str(peer[0])
        except OSError:
            remote = source = "?"
        rec = AccessRecord(remote=remote)
        self.connections += 1
        self.total += 1
        t0 = trio.current_time()
        # Shielded: the server's own cancellation must not cut a connection
        # before shutdown has sent it a close frame; `_shutdown` cancels it.
        with trio.CancelScope(shield=True) as scope:
            live = Entry(source, scope, rec)
            self._live.add(live)
            try:
                await self.admission.enter(live, self.handshake_timeout)
                await self._run(tcp, rec, live)
            except Refused as refusal:
                rec.outcome, rec.error = refusal.outcome, refusal.error
            except Exception as exc:  # noqa: BLE001 - trap 1: last line of defence
                rec.outcome = "handler-error"
                rec.error = f"{type(exc).__name__}: {exc}"
                log.error("%s: connection failed: %s", rec.who, rec.error, exc_info=log.isEnabledFor(logging.DEBUG))
            finally:
                self.admission.leave(live)
                self._live.discard(live)
                self.connections -= 1
                await trio.aclose_forcefully(tcp)
        if scope.cancelled_caught and rec.outcome == "open":
            rec.outcome = "closed"
        rec.duration = trio.current_time() - t0
        self._emit(rec)

    async def _run(self, tcp: trio.SocketStream, rec: AccessRecord, live: Entry) -> None:
        stream: trio.abc.Stream = tcp
        if self.reloader is not None:
            self.ssl_context = self.reloader.current(self.ssl_context)
        if self.ssl_context is not None:
            tls = trio.SSLStream(tcp, self.ssl_context, server_side=True, https_compatible=True)
            failure: BaseException | None = None
            with trio.move_on_after(self.handshake_timeout) as cs:
                try:
                    await tls_handshake(tls)
                except trio.BrokenResourceError as exc:
                    failure = exc.__cause__ or exc
                    await _flush_alert(tls)
            if cs.cancelled_caught:
                rec.outcome, rec.error = "timeout", f"TLS handshake not finished within {self.handshake_timeout:g} s"
                return
            if failure is not None:
                rec.outcome, rec.error = "tls-failed", tlserrors.server_side_failure(failure)
                return
            der = tls.getpeercert(binary_form=True)
            if der:
                try:
                    rec.identity = _identity(der)
                except InvalidInput as exc:
                    log.warning("%s: %s", rec.remote, exc)
            stream = tls
        try:
            upgrade: trio.abc.Stream | None = stream
            # one deadline for the request head, whether the scrape check or the upgrade reads it
            head_by = trio.current_time() + self.handshake_timeout
            if self.http_endpoint is not None and self.ssl_context is not None:
                upgrade = await self.http_endpoint.answer_scrape(stream, rec, self.handshake_timeout)
            if upgrade is None:
                return  # answered as plain HTTP
            await self._websocket(upgrade, rec, live, head_by)
        finally:
            if isinstance(stream, trio.SSLStream):
                await close_tls(stream)  # after a rejection too: no "unexpected eof" at the peer

    async def _upgrade_request(
        self, observed: ObservedStream, rec: AccessRecord, head_by: float
    ) -> UpgradeRequest | None:
        request: UpgradeRequest | None = None
        bad: str | None = None
        with trio.move_on_at(head_by) as cs:
            try:
                request = await read_request(
                    observed,
                    max_message_size=self.max_message_size,
                    receive_buffer_size=self.receive_buffer_size,
                    max_buffered_bytes=self.max_buffered_bytes,
                )
            except BadUpgrade as exc:
                bad = str(exc) or "unreadable"
        if request is None:
            no_upgrade(rec, self.handshake_timeout if cs.cancelled_caught else None, bad, observed)
        return request

    async def _admit(
        self,
        request: UpgradeRequest,
        rec: AccessRecord,
        live: Entry,
        headers: tuple[tuple[str, str], ...],
    ) -> bool | Accept:
        """max_connections, then ``authorize``; False once the request was rejected,
        an `Accept` when ``authorize`` chose the subprotocol."""
        if not self.admission.upgraded(live):
            await self._reject(
                request,
                rec,
                Reject(503, f"server busy: {self.max_connections} connections already open", [("Retry-After", "1")]),
            )
            return False
        if self.authorize is None:
            return True
        try:
            verdict = self.authorize(
                ConnectionRequest(
                    rec.remote, rec.identity, rec.path or "/", headers, tuple(request.proposed_subprotocols)
                )
            )
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if verdict is not None and not isinstance(verdict, Accept):
                raise TypeError(f"returned {verdict!r}, not None or an Accept (or raise Reject)")
        except Reject as rejection:
            await self._reject(request, rec, rejection)
            return False
        except Exception as exc:  # noqa: BLE001 - a buggy policy must not look like a TLS failure
            log.error("%s: authorize failed: %s: %s", rec.who, type(exc).__name__, exc)
            await self._reject(request, rec, Reject(500, "internal error while authorizing"))
            rec.outcome, rec.error = "handler-error", f"authorize: {type(exc).__name__}: {exc}"
            return False
        return verdict if isinstance(verdict, Accept) else True

    async def _websocket(self, stream: trio.abc.Stream, rec: AccessRecord, live: Entry, head_by: float) -> None:
        observed = ObservedStream(stream, head_size=0)
        request = await self._upgrade_request(observed, rec, head_by)
        if request is None:
            return
        rec.path = request.path
        headers = decoded_headers(request.headers)
        admitted = await self._admit(request, rec, live, headers)
        if not admitted:
            return
        proposed = tuple(request.proposed_subprotocols)
        if isinstance(admitted, Accept):
            # only one the client offered: anything else fails its handshake
            rec.subprotocol = admitted.subprotocol if admitted.subprotocol in proposed else None
        else:
            rec.subprotocol = next((p for p in self.subprotocols if p in proposed), None)
        try:
            ws = await request.accept(subprotocol=rec.subprotocol)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            rec.outcome, rec.error = (
                "closed",
                f"connection lost before the upgrade was answered: {observed.error or exc}",
            )
            return
        del request  # the handshake's state is not kept for the connection's life
        ws.on_unattended = self._unattended.add
        self._unattended.add(ws)  # nobody reads yet
        conn = ServerConnection(ws, rec, headers, self.close_timeout)
        live.conn = conn
        # a callback, not a task waiting per connection (tasks are most of what
        # an idle connection costs in memory: docs/performance.md); it cancels
        # the connection's own scope, not one of the handler's (~1 KiB each)
        assert self._nursery is not None
        ws.when_failed(functools.partial(self._nursery.start_soon, self._stop_handler_later, live))
        live.handling = True
        try:
            await self.handler(conn)
        except (ConnectionClosed, websocket.ConnectionClosed):
            pass  # the peer left; that is how most sessions end
        except BaseException as exc:  # noqa: BLE001 - trap 1
            if not handler_failed(exc):
                raise  # cancelled, or the program is being stopped
            if peer_left(exc):
                return  # the same, from inside a handler's own nursery (the close rule raises on 1006 ...)
            rec.outcome = "handler-error"
            rec.error = describe_failure(exc)
            log.error("%s: handler failed: %s", rec.who, rec.error, exc_info=True)
            await conn.close(1011, "internal error")
        finally:
            live.handling = False
            with trio.CancelScope(shield=True):
                await conn.close(1000)
            finish_record(rec, ws, handler_cancelled=live.stopped)

    async def _stop_handler_later(self, live: Entry) -> None:
        """A peer the server failed (protocol error, over a limit) is gone; a
        handler that does not notice within close_timeout (it is not reading:
        that is how a peer gets over max_buffered_bytes) is cancelled, with
        what is left of the connection (the stream is closed by then)."""
        await trio.sleep(self.close_timeout)
        if live.handling:
            live.stopped = True
            live.scope.cancel()

    async def _read_unattended(self, nursery: trio.Nursery) -> None:
        """Read for connections whose handler has not waited for input for
        `UNATTENDED_AFTER` (it only sends, or does not read at all): pings are
        answered, close frames seen and ``max_buffered_bytes`` enforced.  One
        task for the server instead of a reader task per connection."""
        while True:
            await trio.sleep(UNATTENDED_AFTER)
            now = trio.current_time()
            # only what became unattended since the last sweep: a hub's 10,000 devices
            # wait for input all the time, and a look at each cost 2 % of a core
            candidates, self._unattended = self._unattended, set()
            for ws in candidates:
                since = ws.unattended_since
                if since is None or ws._finished:
                    continue  # a reader came back (its leaving adds it again), or it ended
                if now - since < UNATTENDED_AFTER:
                    self._unattended.add(ws)  # not due yet
                elif ws.needs_reader(now):
                    nursery.start_soon(read_for_nobody, ws)

    async def _close_idle(self, nursery: trio.Nursery) -> None:
        """Close (1001) connections idle for ``idle_timeout``: one task for the
        server, sleeping until the earliest connection is due, instead of a
        sleeping task per connection.  A connection's due time only moves
        later, and a new one is due after every open one, so the sleep never
        oversleeps a due connection."""
        timeout = self.idle_timeout
        assert timeout
        while True:
            now = trio.current_time()
            wake = now + timeout
            for live in list(self._live):
                conn = live.conn
                if conn is None or conn.closed is not None or conn.idle_closing:
                    continue
                due = conn.idle_due(timeout)
                if due <= now:
                    conn.idle_closing = True
                    nursery.start_soon(conn.close_idle, timeout)
                else:
                    wake = min(wake, due)
            await trio.sleep_until(wake)

    async def _reject(self, request: UpgradeRequest, rec: AccessRecord, rejection: Reject) -> None:
        rec.outcome, rec.status = "rejected", rejection.status
        rec.error = rejection.body or None
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
        headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
        with trio.move_on_after(self.close_timeout):
            try:
                await request.reject(rejection.status, extra_headers=headers, body=rejection.body.encode() or None)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def _shutdown(self) -> None:
        self._closing = True
        with trio.move_on_after(self.close_timeout):
            async with trio.open_nursery() as nursery:
                for live in list(self._live):
                    if live.conn is not None and live.conn.closed is None:
                        nursery.start_soon(live.conn.close, 1001, "server shutting down")
                    else:
                        live.scope.cancel()
        for live in list(self._live):
            live.scope.cancel()


async def serve(
    handler: Handler,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    cert_chain: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    ca: str | os.PathLike[str] | None = None,
    crl: str | os.PathLike[str] | None = None,
    client_auth: str | None = None,
    allow_plaintext: bool = False,
    subprotocols: Iterable[str] = (),
    authorize: Callable[[ConnectionRequest], Any] | None = None,
    max_message_size: int = 2**20,
    max_connections: int = 1000,
    max_handshakes: int = MAX_HANDSHAKES,
    max_handshakes_per_source: int = MAX_HANDSHAKES_PER_SOURCE,
    max_buffered_bytes: int | None = None,
    handshake_timeout: float = 5.0,
    idle_timeout: float | None = None,
    close_timeout: float = 2.0,
    access_log: Callable[[AccessRecord], None] | None = None,
    http_endpoint: Any = None,
    receive_buffer_size: int | None = RECEIVE_BUFFER_SIZE,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve wss until cancelled (or `Server.close()`); see docs/python-api.md."""
    check_port(port)
    reloader = None
    if ssl_context is None and cert_chain is not None:
        ssl_context, reloader = server_context_from_files(cert_chain, key, password, ca, crl, client_auth)
    if ssl_context is None and not allow_plaintext:
        raise InvalidInput(
            "a wss server needs a certificate (cert_chain=, key=); plaintext ws:// only with allow_plaintext=True"
        )
    check_limits(
        handshake_timeout=handshake_timeout,
        close_timeout=close_timeout,
        max_connections=max_connections,
        max_handshakes=max_handshakes,
        max_handshakes_per_source=max_handshakes_per_source,
    )
    if max_buffered_bytes is None:
        max_buffered_bytes = max(websocket.MAX_BUFFERED_BYTES, max_message_size)
    elif max_buffered_bytes < max_message_size:
        raise InvalidInput(
            f"max_buffered_bytes ({max_buffered_bytes}) must be at least max_message_size ({max_message_size}) "
            "(--max-buffered-bytes, --max-message-size): a whole message is held before the handler reads it"
        )
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = Server(
        handler,
        listeners,
        ssl_context,
        subprotocols=subprotocols,
        authorize=authorize,
        max_message_size=max_message_size,
        max_connections=max_connections,
        max_buffered_bytes=max_buffered_bytes,
        max_handshakes=max_handshakes,
        max_handshakes_per_source=max_handshakes_per_source,
        handshake_timeout=handshake_timeout,
        idle_timeout=idle_timeout,
        close_timeout=close_timeout,
        access_log=access_log,
        http_endpoint=http_endpoint,
        receive_buffer_size=receive_buffer_size,
    )
    server.reloader = reloader
    await _run_server(server, task_status)


async def _run_server(server: Server, task_status: trio.TaskStatus[Server]) -> None:
    with trio.CancelScope() as server._scope:
        async with trio.open_nursery() as connections:
            server._nursery = connections
            try:
                await connections.start(
                    functools.partial(
                        trio.serve_listeners, server._connection, server.listeners, handler_nursery=connections
                    )
                )
                if server.reloader is not None:
                    connections.start_soon(server.reloader.warn_periodically)
                connections.start_soon(server._read_unattended, connections)
                if server.idle_timeout:
                    connections.start_soon(server._close_idle, connections)
                task_status.started(server)
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await server._shutdown()
