"""The client side of a connection: URL → TCP → TLS → trust checks → WebSocket.

Each step is done here, one after the other, so that a failure is reported as
what it is, at once (trap 2: trio-websocket's own connect turned a bad
certificate into a 60 s `ConnectionTimeout`), and so that one deadline bounds
the whole open (trap 3).  The upgrade itself is `wsctl.net.ws_handshake`.  Errors are `wsctl.core.errors` instances with
one-line messages; see docs/tls.md for the table.
"""

from __future__ import annotations

import base64
import math
import os
import re
import ssl
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import trio

from wsctl.core import known_devices as kd
from wsctl.core.errors import (
    ConnectError,
    HandshakeRejected,
    InvalidInput,
    Timeout,
    TLSError,
    UsageError,
    WsctlError,
)
from wsctl.core.urls import public_url
from wsctl.net import tls_sessions, websocket
from wsctl.net._guard import ObservedStream, cancelled_only, tls_handshake
from wsctl.net.websocket import RECEIVE_BUFFER_SIZE, WebSocket
from wsctl.net.ws_handshake import BadUpgrade, ConnectionRejected, open_client


class Target(NamedTuple):  # not a frozen dataclass: cheaper to build at import
    url: str  # as given, minus any password (it is shown and recorded)
    secure: bool
    host: str  # without brackets
    port: int
    resource: str  # path and query, what goes on the request line
    #: from ``wss://user:password@host/``: sent as HTTP Basic auth (OCPP security profile 2)
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True) if k != "password")
        return f"Target({shown})"  # never the password

    @property
    def where(self) -> str:
        """``host:port`` as people write it, for messages and known-devices keys."""
        return kd.device_key(self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str, *, allow_plaintext: bool = False) -> Target:
    """Check and split a ``wss://[user[:password]@]host[:port][/path][?query]`` URL."""
    shown = public_url(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a valid URL: {shown!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("wss", "ws"):
        raise UsageError(f"not a WebSocket URL: {shown!r} (expected wss://host[:port]/path)")
    if scheme == "ws" and not allow_plaintext:
        raise UsageError(f"refusing plaintext {shown!r}: use wss://, or allow ws:// explicitly (--allow-plaintext)")
    if not parts.hostname:
        raise UsageError(f"no host in URL {shown!r}")
    if port == 0:
        raise UsageError(f"port 0 in URL {shown!r}: a device listens on a port from 1 to 65535")
    checked_host_name(parts.hostname, f"the host in {shown!r}")
    secure = scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Target(
        url=shown,
        secure=secure,
        host=parts.hostname,
        port=port if port is not None else (443 if secure else 80),
        resource=resource,
        username=username,
        password=password,
    )


#: an HTTP header name (RFC 9110 token), and what a header value may not hold (controls but tab)
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_NOT_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def checked_host_name(name: str, what: str) -> str:
    """``name`` when DNS and TLS can take it (IDNA labels of 1-63 characters, no NUL); else `UsageError`."""
    try:
        if not name or name.startswith(".") or "\x00" in name:
            raise UnicodeError("empty, a leading dot or a NUL")
        name.encode("idna")
    except UnicodeError as exc:
        raise UsageError(f"{what} is not a valid host name: {name!r} ({exc})") from None
    return name


def checked_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Extra request headers HTTP can carry: token names, Latin-1 values without line breaks; else `UsageError`."""
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, str) or not _TOKEN.fullmatch(name):
            raise UsageError(f"not a valid HTTP header name: {name!r} (letters, digits and !#$%&'*+-.^_`|~)")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise UsageError(f"header {name}: only Latin-1 characters can be sent, not {value!r}") from None
        if _NOT_IN_VALUE.search(value) or value != value.strip(" \t"):
            raise UsageError(f"header {name}: a value cannot hold line breaks or controls, or start or end with space")
    return headers


def basic_auth_header(username: str, password: str) -> tuple[str, str]:
    """``Authorization: Basic ...`` (RFC 7617); a colon cannot be part of the user id."""
    if ":" in username:
        raise UsageError(f"a Basic auth user id cannot contain ':' ({username!r})")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return ("Authorization", f"Basic {token}")


def fingerprint(der: bytes) -> str:
    return kd.certificate_fingerprint(der)


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - trio.current_time())


async def open_tls(
    target: Target,
    ctx: ssl.SSLContext | None,
    *,
    deadline: float,
    server_name: str | None = None,
    client_cert: str | os.PathLike[str] | None = None,
) -> tuple[trio.abc.Stream, bytes | None]:
    """TCP connect and TLS handshake; returns (stream, device certificate DER).

    ``client_cert`` (our certificate file, if we send one) only serves the
    messages: a device that refuses it is told apart from one that is down.

    Must not be called inside a nursery whose errors the caller wants unwrapped
    (trap 8): the deadline is a plain `fail_after`.
    """
    where = target.where
    tcp: trio.SocketStream | None = None
    try:
        with trio.fail_after(_remaining(deadline)):
            try:
                tcp = await trio.open_tcp_stream(target.host, target.port)
            except OSError as exc:
                from wsctl.net import tlserrors  # failures only: not on every start-up

                raise tlserrors.os_failure(exc, where=where) from None
            except BaseExceptionGroup as group:  # its happy-eyeballs nursery, cancelled by the caller
                cancelled = cancelled_only(group)
                if cancelled is None:
                    raise
                raise cancelled from None
            if not target.secure:
                return tcp, None
            assert ctx is not None
            name = server_name or target.host
            tls = trio.SSLStream(tcp, ctx, server_hostname=name, https_compatible=True)
            session_key = tls_sessions.key(ctx, target.host, target.port, name)
            offered = tls_sessions.offer(tls, session_key)
            try:
                await tls_handshake(tls)
            except trio.BrokenResourceError as exc:
                from wsctl.net import tlserrors

                if offered:
                    tls_sessions.refused(session_key)

                cause = exc.__cause__
                if isinstance(cause, ssl.SSLCertVerificationError):
                    # The failed handshake gives no certificate; fetch it once more
                    # without checks, only to name what the device presented.
                    der = await _fetch_certificate(target, name, min(2.0, _remaining(deadline)))
                    raise tlserrors.verify_failure(cause, where=where, server_name=name, peer_der=der) from None
                if isinstance(cause, ssl.SSLError):
                    raise tlserrors.ssl_failure(
                        cause, where=where, during="TLS handshake", client_cert=client_cert
                    ) from None
                if isinstance(cause, OSError):
                    # TCP is up: a reset now is the device's TLS stack giving up
                    # on us, not a network failure (and not worth a retry)
                    raise tlserrors.handshake_reset(cause, where=where, client_cert=client_cert) from None
                raise TLSError(f"{where}: the device closed the connection during the TLS handshake") from None
            return tls, tls.getpeercert(binary_form=True)
    except trio.TooSlowError:
        if tcp is not None:
            await trio.aclose_forcefully(tcp)
        step = "connect" if tcp is None else "TLS handshake"
        raise Timeout(f"{where}: no answer within the connect timeout ({step})") from None
    except BaseException:
        if tcp is not None:
            await trio.aclose_forcefully(tcp)
        raise


def keep_tls_session(stream: Any, ctx: ssl.SSLContext | None, target: Target, server_name: str | None) -> None:
    """After the upgrade (its answer brought a TLS 1.3 server's ticket): the
    session for the next connection to this device (`wsctl.net.tls_sessions`)."""
    if ctx is not None and isinstance(stream, trio.SSLStream):
        tls_sessions.keep(stream, tls_sessions.key(ctx, target.host, target.port, server_name or target.host))


async def _fetch_certificate(target: Target, server_name: str, timeout: float) -> bytes | None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with trio.move_on_after(timeout):
        try:
            tcp = await trio.open_tcp_stream(target.host, target.port)
        except OSError:
            return None
        tls = trio.SSLStream(tcp, ctx, server_hostname=server_name, https_compatible=True)
        try:
            await tls.do_handshake()
            return tls.getpeercert(binary_form=True)
        except trio.BrokenResourceError:
            return None
        finally:
            await trio.aclose_forcefully(tls)
    return None


def check_pin(target: Target, der: bytes | None, pin: str) -> None:
    expected = kd.normalize_fingerprint(pin)
    actual = fingerprint(der) if der else "(no certificate)"
    if actual != expected:
        raise TLSError(f"{target.where}: certificate does not match the pin: expected {expected}, got {actual}")


def _lock_file(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: one process at a time is the user's job
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


def check_known_device(
    path: str | os.PathLike[str], target: Target, der: bytes | None, *, trust_new: bool
) -> kd.Decision:
    """TOFU against the known-devices file; records first use, refuses changes.

    Synchronous on purpose: read-check-write without an await in between is
    atomic against other tasks of this process (a fleet run connecting to many
    devices at once); a flock on a side file covers other processes.
    """
    if der is None:
        raise TLSError(f"{target.where}: no certificate to check against the known-devices file")
    file = Path(path)
    try:
        return _check_known_file(file, target, der, trust_new=trust_new)
    except OSError as exc:
        raise InvalidInput(f"known-devices file {file}: {exc.strerror or exc}") from None


def _check_known_file(file: Path, target: Target, der: bytes, *, trust_new: bool) -> kd.Decision:
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_name(file.name + ".lock"), "a") as lock:
        _lock_file(lock)
        # bytes: the parser says which byte is not UTF-8, in one line (exit 8)
        known = kd.parse(file.read_bytes() if file.exists() else b"", source=str(file))
        decision = kd.decide(known, target.where, fingerprint(der), trust_new=trust_new, source=str(file))
        if decision.must_write:
            known.set(decision.key, decision.fingerprint)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            tmp.write_text(kd.serialize(known))
            os.replace(tmp, file)
    return decision


#: refusals a wsctl hub names (``Wsctl-Refusal``) that are not a handshake problem
_HUB_REFUSALS: dict[str, type[WsctlError]] = {"offline": ConnectError}


def _rejected(target: Target, exc: ConnectionRejected) -> WsctlError:
    body = (exc.body or b"").decode("utf-8", "replace").strip()
    # one line: an HTML error page must not spill over the terminal
    flat = " ".join(body.split())
    short = flat if len(flat) <= 200 else flat[:200] + "..."
    tail = f": {short}" if short else ""
    headers = getattr(exc, "headers", None) or ()  # a stand-in rejection may carry none
    refusal = next((v.decode("latin-1") for k, v in headers if k.lower() == b"wsctl-refusal"), None)
    if refusal in _HUB_REFUSALS:
        # a hub saying the device behind it is offline: as unreachable as the device itself (exit 3)
        return _HUB_REFUSALS[refusal](f"{target.where}: {short or 'device offline'}")
    return HandshakeRejected(
        f"{target.where}: WebSocket upgrade rejected with HTTP {exc.status_code}{tail}",
        status=exc.status_code,
        body=body,
    )


async def upgrade(
    stream: trio.abc.Stream,
    target: Target,
    *,
    deadline: float,
    subprotocols: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    max_message_size: int = 2**20,
    receive_buffer_size: int | None = RECEIVE_BUFFER_SIZE,
    sent_client_cert: bool | None = None,
    client_cert: str | os.PathLike[str] | None = None,
    max_buffered_bytes: int = websocket.MAX_BUFFERED_BYTES,
) -> WebSocket | WsctlError:
    """The HTTP upgrade.  Returns the connection, or the error to raise (the
    caller raises it outside any nursery: trap 8)."""
    tls13 = isinstance(stream, trio.SSLStream) and stream.version() == "TLSv1.3"
    observed = ObservedStream(stream)
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    ws: WebSocket | None = None
    refused: ConnectionRejected | BadUpgrade | None = None
    with trio.CancelScope(deadline=deadline if math.isfinite(deadline) else math.inf) as scope:
        try:
            ws = await open_client(
                observed,
                target.host_header,
                target.resource,
                subprotocols=list(subprotocols) or None,
                extra_headers=extra or None,
                max_message_size=max_message_size,
                receive_buffer_size=receive_buffer_size,
                max_buffered_bytes=max_buffered_bytes,
            )
        except (ConnectionRejected, BadUpgrade) as exc:
            refused = exc
    if ws is not None:
        # 101 received; a device that closed right after accepting shows up
        # as ConnectionClosed on the first receive
        return ws
    timed_out = scope.cancelled_caught and observed.error is None
    await trio.aclose_forcefully(stream)
    if isinstance(refused, ConnectionRejected):
        return _rejected(target, refused)
    return await _upgrade_failure(
        target,
        observed,
        refused,
        deadline=deadline,
        timed_out=timed_out,
        tls13=tls13,
        subprotocols=subprotocols,
        sent_client_cert=sent_client_cert,
        client_cert=client_cert,
    )


async def _upgrade_failure(
    target: Target,
    observed: ObservedStream,
    invalid: BadUpgrade | None,
    *,
    deadline: float,
    timed_out: bool,
    tls13: bool,
    subprotocols: tuple[str, ...],
    sent_client_cert: bool | None,
    client_cert: str | os.PathLike[str] | None,
) -> WsctlError:
    """What went wrong with an upgrade that got no 101, from what the device sent."""
    from wsctl.net import tlserrors, upgrade_answer  # failures only: not on every start-up

    if isinstance(observed.error, ssl.SSLError):
        return tlserrors.ssl_failure(
            observed.error, where=target.where, during="WebSocket upgrade", client_cert=client_cert
        )
    explained = upgrade_answer.explain(
        observed.head, where=target.where, secure=target.secure, offered_subprotocols=subprotocols
    )
    if explained is not None:
        return explained
    if not target.secure and observed.received == 0 and not timed_out:
        # a TLS server drops a plaintext request without a word (OpenSSL sends
        # no alert for it): ask once more, in TLS, to say so instead of "closed"
        if await _fetch_certificate(target, target.host, min(2.0, max(0.5, _remaining(deadline)))) is not None:
            return upgrade_answer.tls_port(target.where)
    lost = observed.error is not None or not timed_out
    if lost and tls13 and observed.received == 0 and not isinstance(observed.error, trio.ClosedResourceError):
        return _closed_after_tls13(target, sent_client_cert)
    if timed_out:
        return Timeout(f"{target.where}: no WebSocket upgrade answer within the connect timeout")
    if observed.error is not None:
        return ConnectError(f"{target.where}: connection lost during the WebSocket upgrade ({observed.error})")
    if invalid is not None:
        return HandshakeRejected(f"{target.where}: invalid WebSocket upgrade answer: {invalid}")
    return ConnectError(f"{target.where}: the device closed the connection during the WebSocket upgrade")


def _closed_after_tls13(target: Target, sent_client_cert: bool | None) -> TLSError:
    """TLS 1.3 servers check our certificate after our side of the handshake
    is done; many (asyncio, embedded stacks) then reset the connection and the
    alert saying why is lost.  What we sent tells the likely reason."""
    if sent_client_cert is False:
        why = "we sent no client certificate and it probably requires one (give --cert/--key)"
    elif sent_client_cert:
        why = "it probably rejected our client certificate (revoked, expired, or from a CA it does not trust)"
    else:
        why = "it probably requires, or rejected, our client certificate"
    error = TLSError(f"{target.where}: the device closed the connection right after the TLS handshake: {why}")
    error.wants_client_certificate = sent_client_cert is False
    return error


class _Sweep:
    """The clients' watch: one task for every client connection of a trio run
    (a server sweeps its connections the same way, `Server._read_unattended`).

    A connection nobody has waited on for input for ``after`` seconds gets a
    `read_unattended` task in its own nursery, so that a client that does not
    read still answers pings and sees the close.  Only the connections whose
    last reader left since the last look are looked at (`on_unattended`), and
    the task is parked while there are none.  A watch task per connection
    cost a task, an event, two timers and a cancellation per device of a
    fan-out (docs/performance.md, session 9).
    """

    def __init__(self, after: float) -> None:
        self.after = after
        self.nurseries: dict[WebSocket, trio.Nursery] = {}  # the connections watched
        self.due: set[WebSocket] = set()  # to look at: unattended since the last look
        self.parked: trio.Event | None = None

    def note(self, ws: WebSocket) -> None:
        """`WebSocket.on_unattended`: its last reader left."""
        self.due.add(ws)
        if self.parked is not None:
            self.parked.set()

    async def run(self) -> None:
        while True:
            if not self.due:
                self.parked = trio.Event()
                await self.parked.wait()
                self.parked = None
                continue
            await trio.sleep(self.after)
            self.look(trio.current_time())

    def look(self, now: float) -> None:
        due, self.due = self.due, set()
        for ws in due:
            nursery = self.nurseries.get(ws)
            since = ws.unattended_since
            if nursery is None or since is None or ws.finished:
                continue  # closed, or a reader came back (its leaving notes it again)
            if ws.needs_reader(now, self.after):
                try:
                    nursery.start_soon(ws.read_unattended)
                except RuntimeError:  # its nursery is closing: so is the connection
                    pass
            else:
                self.due.add(ws)  # not due yet, or being read for nobody already: look again later


_sweeps: trio.lowlevel.RunVar[_Sweep] = trio.lowlevel.RunVar("wsctl_client_sweep")


def watch_unattended(ws: WebSocket, nursery: trio.Nursery) -> None:
    """Watch ``ws`` (see `_Sweep`) until `unwatch`; reads for it run in ``nursery``."""
    try:
        sweep = _sweeps.get()
    except LookupError:
        sweep = _Sweep(websocket.CLIENT_UNATTENDED_AFTER)
        _sweeps.set(sweep)
        trio.lowlevel.spawn_system_task(sweep.run, name="wsctl client watch")
    sweep.nurseries[ws] = nursery
    ws.on_unattended = sweep.note
    sweep.note(ws)  # unattended from the start, until somebody reads


def unwatch(ws: WebSocket) -> None:
    ws.on_unattended = None
    try:
        sweep = _sweeps.get()
    except LookupError:
        return
    sweep.nurseries.pop(ws, None)
    sweep.due.discard(ws)
