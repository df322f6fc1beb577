"""The EST listener: TLS, HTTP/1.1 keep-alive, one guarded task per connection.

Like `wsctl.net.server` (whose alert flushing it reuses), every connection
takes a handshake slot of `wsctl.net.admission` until its first request head
is in, owns a bounded TLS handshake, and catches everything a client can
cause, so one bad client never takes the server down.  Every wait has a
deadline: the TLS handshake and the first request `handshake_timeout`, each
later request on a kept-alive connection `idle_timeout`, a body
`request_timeout`, an answer `request_timeout`.  Bodies are bounded
(`max_body`, 413), heads by h11 (431).

The CA work (`wsctl.pki.est_enroll.Enroller`: signing, SQLite, the store lock)
runs in a worker thread, one request at a time: the store serialises writers
anyway, and the event loop keeps accepting and answering meanwhile.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import trio

from wsctl.core.errors import InvalidInput
from wsctl.core.est_http import EstRequestError, check_method, parse_basic, parse_route
from wsctl.net import tlserrors
from wsctl.net._guard import close_tls
from wsctl.net.admission import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_SOURCE, Admission, Entry, Refused
from wsctl.net.est.http import HttpConnection, Request
from wsctl.net.server import _flush_alert, _fmt_addr
from wsctl.pki.est_auth import Credentials
from wsctl.pki.est_enroll import Answer, Enroller, error_answer
from wsctl.pki.est_refusals import WINDOW as REFUSAL_WINDOW

log = logging.getLogger("wsctl.net.est")
access_logger = logging.getLogger("wsctl.net.est.access")

#: requests one kept-alive connection may make before it is closed
MAX_REQUESTS_PER_CONNECTION = 100
MAX_BODY = 64 * 1024


@dataclasses.dataclass
class EstAccess:
    """One request (or one connection that never made one), for the access log."""

    remote: str
    method: str = "-"
    path: str = "-"
    status: int | None = None
    #: `answered` (whatever the status), `tls-failed`, `timeout`, `refused`, `closed`, `error`
    outcome: str = "answered"
    error: str | None = None
    duration: float = 0.0


@dataclasses.dataclass(frozen=True)
class Limits:
    handshake_timeout: float = 5.0
    idle_timeout: float = 5.0
    request_timeout: float = 10.0
    max_body: int = MAX_BODY
    max_connections: int = 256
    max_handshakes: int = MAX_HANDSHAKES
    max_handshakes_per_source: int = MAX_HANDSHAKES_PER_SOURCE


class EstServer:
    def __init__(
        self,
        enroller: Enroller,
        listeners: list[trio.SocketListener],
        ssl_context: ssl.SSLContext,
        limits: Limits,
        on_access: Callable[[EstAccess], None] | None,
    ) -> None:
        self.enroller = enroller
        self.listeners = listeners
        self.ssl_context = ssl_context
        self.limits = limits
        self.on_access = on_access
        self.admission = Admission(
            max_connections=limits.max_connections,
            max_handshakes=limits.max_handshakes,
            max_handshakes_per_source=limits.max_handshakes_per_source,
        )
        self.ca_work = trio.CapacityLimiter(1)
        self.requests = 0

    @property
    def port(self) -> int:
        return self.listeners[0].socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = self.listeners[0].socket.getsockname()[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"https://{_fmt_addr((host, self.port))}/.well-known/est/"

    def _emit(self, rec: EstAccess) -> None:
        access_logger.info(
            "%s %s %s %s %s %.3fs%s",
            rec.remote,
            rec.method,
            rec.path,
            rec.status or "-",
            rec.outcome,
            rec.duration,
            f" error={rec.error}" if rec.error else "",
        )
        if self.on_access is not None:
            try:
                self.on_access(rec)
            except Exception:  # noqa: BLE001 - a broken log sink must not stop serving
                log.exception("EST access callback failed")

    async def sweep_refusals(self) -> None:
        """Sum up the suppressed refusals of clients that stopped: no later request closes their window."""
        while True:
            await trio.sleep(REFUSAL_WINDOW)
            await trio.to_thread.run_sync(self.enroller.sweep_refusals, limiter=self.ca_work)

    async def connection(self, tcp: trio.SocketStream) -> None:
        try:
            peer = tcp.socket.getpeername()
            remote, source = _fmt_addr(peer), str(peer[0])
        except OSError:
            remote = source = "?"
        rec = EstAccess(remote)
        started = time.monotonic()
        with trio.CancelScope() as scope:
            live = Entry(source, scope, rec)
            try:
                await self.admission.enter(live, self.limits.handshake_timeout)
                await self._run(tcp, rec, live)
            except Refused as refusal:
                rec.outcome, rec.error = "refused", refusal.error
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                rec.outcome, rec.error = "closed", f"connection lost: {exc.__cause__ or exc}"
            except Exception as exc:  # noqa: BLE001 - one client never takes the server down
                rec.outcome, rec.error = "error", f"{type(exc).__name__}: {exc}"
                log.error("EST %s: connection failed: %s", remote, rec.error, exc_info=log.isEnabledFor(logging.DEBUG))
            finally:
                self.admission.leave(live)
                await trio.aclose_forcefully(tcp)
        if rec.outcome != "answered" or rec.method == "-":
            if rec.outcome == "answered":
                rec.outcome = "closed"
            rec.duration = time.monotonic() - started
            self._emit(rec)

    async def _run(self, tcp: trio.SocketStream, rec: EstAccess, live: Entry) -> None:
        tls = trio.SSLStream(tcp, self.ssl_context, server_side=True, https_compatible=True)
        failure: BaseException | None = None
        with trio.move_on_after(self.limits.handshake_timeout) as cs:
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:
                failure = exc.__cause__ or exc
                await _flush_alert(tls)
        if cs.cancelled_caught:
            rec.outcome, rec.error = "timeout", f"TLS handshake not finished within {self.limits.handshake_timeout:g} s"
            return
        if failure is not None:
            rec.outcome, rec.error = "tls-failed", tlserrors.server_side_failure(failure)
            return
        try:
            await self._requests(HttpConnection(tls), tls.getpeercert(binary_form=True) or None, rec, live)
        finally:
            await close_tls(tls)

    async def _requests(self, http: HttpConnection, client_cert: bytes | None, rec: EstAccess, live: Entry) -> None:
        wait = self.limits.handshake_timeout
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            started = time.monotonic()
            request: Request | None = None
            with trio.move_on_after(wait) as cs:
                try:
                    request = await http.next_request()
                except EstRequestError as exc:
                    await self._answer(http, EstAccess(rec.remote), error_answer(exc.status, exc.message), close=True)
                    return
            if request is None:
                if cs.cancelled_caught and live.state == "pending":
                    rec.outcome, rec.error = "timeout", f"no HTTP request within {wait:g} s"
                return  # idle keep-alive connections just end
            if live.state == "pending" and not self.admission.upgraded(live):
                busy = error_answer(503, "EST server busy; retry later", (("Retry-After", "1"),))
                await self._answer(http, EstAccess(rec.remote, "-", "-"), busy, close=True)
                return
            access = EstAccess(rec.remote, request.method.decode("latin-1"), request.target.decode("latin-1")[:200])
            rec.method = access.method
            answer, close = await self._handle(http, request, client_cert, access)
            access.duration = time.monotonic() - started
            await self._answer(http, access, answer, close=close)
            if close or not http.next_cycle():
                return
            wait = self.limits.idle_timeout

    async def _answer(self, http: HttpConnection, access: EstAccess, answer: Answer, *, close: bool) -> None:
        access.status = answer.status
        if answer.status >= 400:
            access.error = answer.body.decode("utf-8", "replace").strip()[:200]
        self.requests += 1
        self._emit(access)
        if not http.can_respond():
            return
        with trio.move_on_after(self.limits.request_timeout):
            await http.respond(answer.status, answer.content_type, answer.body, answer.headers, close=close)

    async def _handle(
        self, http: HttpConnection, request: Request, client_cert: bytes | None, access: EstAccess
    ) -> tuple[Answer, bool]:
        """The answer, and whether to close afterwards (a body left unread, a broken request)."""
        try:
            route = parse_route(request.target)
            check_method(route, request.method)
        except EstRequestError as exc:
            return error_answer(exc.status, exc.message, exc.headers), request.method == b"POST"
        if route.operation in ("cacerts", "csrattrs"):
            try:
                with trio.fail_after(self.limits.request_timeout):
                    await http.body(request, self.limits.max_body)  # none expected; read for keep-alive
            except (EstRequestError, trio.TooSlowError):
                return error_answer(400, "a GET with a body that is too large or too slow"), True
        if route.operation == "cacerts":
            return await trio.to_thread.run_sync(self.enroller.cacerts, route.label, limiter=self.ca_work), False
        if route.operation == "csrattrs":
            return self.enroller.csrattrs(route.label), False
        creds = Credentials(remote=access.remote, client_cert=client_cert)
        try:
            authorization = request.headers.get(b"authorization")
            if authorization is not None:
                creds = dataclasses.replace(creds, basic=parse_basic(authorization))
            with trio.fail_after(self.limits.request_timeout):
                body = await http.body(request, self.limits.max_body)
        except (EstRequestError, trio.TooSlowError) as exc:
            status, message = (
                (exc.status, exc.message) if isinstance(exc, EstRequestError) else (408, "request body too slow")
            )
            context = {"label": route.label or self.enroller.default.name, "client": access.remote}
            await trio.to_thread.run_sync(
                self.enroller.audit_refusal, route.operation, context, status, message, limiter=self.ca_work
            )
            headers = exc.headers if isinstance(exc, EstRequestError) else ()
            return error_answer(status, message, headers), True
        enroll = functools.partial(
            self.enroller.enroll, route.label, route.operation, creds, request.headers.get(b"content-type"), body
        )
        return await trio.to_thread.run_sync(enroll, limiter=self.ca_work), False


async def serve_est(
    enroller: Enroller,
    *,
    ssl_context: ssl.SSLContext,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: Limits | None = None,
    on_access: Callable[[EstAccess], None] | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve EST until cancelled; `task_status.started` gets the `EstServer`."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = EstServer(enroller, listeners, ssl_context, limits or Limits(), on_access)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(trio.serve_listeners, server.connection, listeners, handler_nursery=nursery)
            )
            nursery.start_soon(server.sweep_refusals)
            task_status.started(server)
            await trio.sleep_forever()
    finally:
        # every worker thread is done here; the windows still open are counted in audit.log too
        try:
            enroller.sweep_refusals(everything=True)
        except Exception:  # noqa: BLE001 - a full disk at shutdown must not hide why the server stopped
            log.exception("EST: cannot write the last suppressed-refusals lines")
