"""The client: `open_device` and the `Device` it yields.

Public through the `wsctl` package (``wsctl.open_device``; the list is
`wsctl.__all__`, documented in docs/python-api.md); this module is private.
The server names are re-exported here for wsctl's own code and tests.
Errors are `wsctl.core.errors` classes, each carrying the exit code the CLI
uses (docs/exit-codes.md has the table).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import trio

from wsctl.core.errors import InvalidInput, UsageError
from wsctl.net import client_open as _c
from wsctl.net import websocket
from wsctl.net._guard import unwrap_nursery
from wsctl.net.channel import Channel
from wsctl.net.describe import log_connection

__all__ = [
    "Accept",
    "AccessRecord",
    "ConnectionRequest",
    "Device",
    "Reject",
    "Server",
    "ServerConnection",
    "echo_handler",
    "open_device",
    "serve",
]

if TYPE_CHECKING:
    from wsctl.core.profile.events import CodecEvent
    from wsctl.core.profile.model import Profile
    from wsctl.net.server import (
        Accept,
        AccessRecord,
        ConnectionRequest,
        Reject,
        Server,
        ServerConnection,
        echo_handler,
        serve,
    )
    from wsctl.net.session import Session

#: the server names, imported on first use: a one-shot client (`wsctl send`)
#: must not pay for the server, the profile session and the profile model
_SERVER_NAMES = frozenset(
    ("Accept", "AccessRecord", "ConnectionRequest", "Reject", "Server", "ServerConnection", "echo_handler", "serve")
)


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from wsctl.net import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger("wsctl.net")

PathLike = str | os.PathLike[str]


#: -vv: every message in and out (the level is checked before anything is formatted)
_frames = logging.getLogger("wsctl.net.frames")


def _trace(where: str, arrow: str, message: str | bytes) -> None:
    if isinstance(message, str):
        text = message if len(message) <= 2000 else message[:2000] + f"... ({len(message)} characters)"
    else:
        text = f"<binary {len(message)} B> {bytes(message[:64]).hex()}" + ("..." if len(message) > 64 else "")
    _frames.debug("%s %s %s", where, arrow, text)


class Device(Channel):
    """An open WebSocket to a device.  Get one from `open_device`.

    Messages: `send`, `receive`, ``async for`` (the close rule of
    `wsctl.net.channel`: ends on 1000/1001, raises `ConnectionClosed` on any
    other close), `ping`, `close`.  With ``profile=``: `call` and `events`
    through the connection's `Session`.
    """

    peer = "device"
    local = "client"

    def __init__(
        self,
        ws: websocket.WebSocket,
        target: _c.Target,
        der: bytes | None,
        tls: trio.abc.Stream,
        close_timeout: float,
    ) -> None:
        super().__init__(ws, target.where, close_timeout)
        self._target = target
        self._stream = tls
        #: the URL as given
        self.url = target.url
        #: negotiated subprotocol, or None
        self.subprotocol: str | None = ws.subprotocol
        #: the device certificate (DER), None on ws://
        self.peer_certificate = der
        #: ``sha256:<hex>`` of the device certificate, None on ws://
        self.peer_fingerprint = _c.fingerprint(der) if der else None
        #: "TLSv1.3" etc., None on ws://
        self.tls_version: str | None = tls.version() if isinstance(tls, trio.SSLStream) else None
        #: whether TLS resumed this process's session with the device (`wsctl.net.tls_sessions`)
        self.tls_resumed: bool = isinstance(tls, trio.SSLStream) and bool(tls.session_reused)
        #: what the known-devices check did: "known", "record", "replace", or None
        self.known_device: str | None = None
        #: the profile session when opened with ``profile=`` (see `call`)
        self._session: Session | None = None

    if TYPE_CHECKING:  # what `Channel.send` takes (docs/python-api.md), for type checkers only: no frame per message

        async def send(self, message: str | bytes | bytearray | memoryview) -> None: ...

    async def _speak(self, profile: Profile, nursery: trio.Nursery) -> None:
        # its events are buffered from the first message on, so telemetry that
        # arrives before the caller starts iterating `events()` is not lost
        from wsctl.net.session import Session

        self._session = Session(self, profile)
        await nursery.start(self._session.run)

    def _profile_session(self, what: str) -> Session:
        if self._session is None:
            raise InvalidInput(f"{what} needs a profile: open_device(url, profile='conveyor', ...)")
        return self._session

    async def call(self, command: str, timeout: float | None = None, **params: Any) -> Any:
        """Run a profile command and return the device's decoded reply.

        Needs ``open_device(..., profile=...)``.  Parameters are checked against
        the profile first (`InvalidInput`, nothing sent); a device error or a
        failed success check raises `DeviceError` (`NotAuthorized` when the
        device refused for our role); `Timeout`, `ConnectionClosed` as usual.
        """
        from wsctl.net.session import raise_for_reply

        session = self._profile_session("call()")
        reply = await session.call(command, params, timeout=timeout)
        assert session.profile is not None
        raise_for_reply(reply, session.profile, self._where)
        return reply.payload

    async def events(self) -> AsyncIterator[CodecEvent]:
        """Telemetry, device requests (already answered) and unrecognised messages
        as they arrive, with a profile; without one, use `receive`.  Ends when
        the device closes normally (1000/1001), raises `ConnectionClosed` otherwise."""
        async for item in self._profile_session("events()").events():
            yield item

    def _sent(self, message: str | bytes) -> None:
        if _frames.isEnabledFor(logging.DEBUG):
            _trace(self._where, ">", message)

    def _received(self, message: str | bytes) -> None:
        if _frames.isEnabledFor(logging.DEBUG):
            _trace(self._where, "<", message)

    async def _close(self, code: int = 1000, reason: str = "", *, shield: bool = False) -> None:
        await super()._close(code, reason, shield=shield)
        if not getattr(self._ws.stream, "closed", False):
            # the close handshake normally closed the stream (`ObservedStream.aclose`);
            # closing it again cost a cancelled scope and a checkpoint per connection
            await trio.aclose_forcefully(self._stream)

    async def _abort(self, why: str) -> None:
        self._dead = why
        await trio.aclose_forcefully(self._stream)


def _authorization(
    target: _c.Target, basic_auth: tuple[str, str] | None, headers: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The Basic auth header from ``basic_auth`` or the URL's userinfo (one source only).

    ``wss://CP-1@host/`` with ``basic_auth=("CP-1", pw)`` is one source: the CLI
    reads the password the URL left out from a file, the environment or a prompt.
    """
    url_user_only = target.password is None and basic_auth is not None and target.username == basic_auth[0]
    sources = [
        name
        for name, given in (
            ("the URL's user:password@", target.username is not None and not url_user_only),
            ("basic_auth", basic_auth is not None),
            ("an Authorization header", any(k.lower() == "authorization" for k, _ in headers)),
        )
        if given
    ]
    if len(sources) > 1:
        raise UsageError(f"credentials given twice ({' and '.join(sources)}): give them once")
    if basic_auth is not None:
        return (_c.basic_auth_header(*basic_auth),)
    if target.username is not None:
        if target.password is None:
            raise UsageError(
                f"{target.where}: the URL names user {target.username!r} but no password",
                hint="wss://USER:PASSWORD@host/..., or --basic-auth USER (password from a file, the environment or a prompt)",
            )
        return (_c.basic_auth_header(target.username, target.password),)
    return ()


def _speaking(profile: str | Profile, url: str, subprotocols: Iterable[str]) -> tuple[Profile, str, Iterable[str]]:
    """The profile (loaded by name), its path when the URL has none, its subprotocols unless given."""
    if isinstance(profile, str):
        from wsctl.files.profiles import load_profile

        profile = load_profile(profile)
    from wsctl.core.profile.fields import profile_url

    return profile, profile_url(url, profile), subprotocols or profile.subprotocols


def _client_context(
    target: _c.Target,
    ssl_context: ssl.SSLContext | None,
    *,
    ca: PathLike | None,
    cert: PathLike | None,
    key: PathLike | None,
    password: str | bytes | None,
    crl: PathLike | None,
    insecure: bool,
    verify_chain: bool,
) -> ssl.SSLContext | None:
    """The SSL context for a wss:// target (None for ws://): the caller's, or a cached one from the files."""
    if not target.secure:
        return None
    ctx = ssl_context
    if ctx is not None and crl is not None:
        raise UsageError("crl= goes with the file arguments, not with ssl_context= (load it into that context)")
    if ctx is None:
        from wsctl.net.tls import cached_client_context

        ctx = cached_client_context(
            ca=ca, cert=cert, key=key, password=password, insecure=insecure, verify=verify_chain, crl=crl
        )
    if insecure:
        log.warning("%s: TLS certificate checks are OFF (insecure)", target.where)
    return ctx


def _check_trust(
    target: _c.Target, der: bytes | None, *, pin: str | None, known_devices: PathLike | None, trust_new: bool
) -> Any:
    """The pin and known-devices checks after the TLS handshake; the known-devices decision, or None."""
    if not target.secure:
        return None
    if pin is not None:
        _c.check_pin(target, der, pin)
    if known_devices is None:
        return None
    decision = _c.check_known_device(known_devices, target, der, trust_new=trust_new)
    if decision.action == "record":
        # ssh's "Permanently added ... to the list of known hosts"
        log.warning(
            "%s: recorded new device fingerprint %s in %s (trust on first use)",
            target.where,
            decision.fingerprint,
            known_devices,
        )
    if decision.action == "replace":
        log.warning(
            "%s: certificate changed, accepted (trust_new): %s -> %s",
            target.where,
            decision.previous,
            decision.fingerprint,
        )
    return decision


def open_device(
    url: str,
    *,
    ca: PathLike | None = None,
    cert: PathLike | None = None,
    key: PathLike | None = None,
    password: str | bytes | None = None,
    crl: PathLike | None = None,
    pin: str | None = None,
    known_devices: PathLike | None = None,
    trust_new: bool = False,
    tofu: bool = False,
    tls_server_name: str | None = None,
    subprotocols: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    basic_auth: tuple[str, str] | None = None,
    insecure: bool = False,
    allow_plaintext: bool = False,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_message_size: int = 2**20,
    max_buffered_bytes: int | None = None,
    ping_interval: float | None = None,
    ping_timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
    receive_buffer_size: int | None = _c.RECEIVE_BUFFER_SIZE,
    profile: str | Profile | None = None,
) -> contextlib.AbstractAsyncContextManager[Device]:
    """Connect to a device over wss and yield a `Device`; close it on exit.

    Trust: ``ca`` (PEM file) or the system store; ``pin`` (``sha256:<hex>``)
    accepts exactly that certificate — without ``ca`` the pin *replaces* the
    chain check (self-signed devices), with ``ca`` both must pass;
    ``known_devices`` (a file path) records the certificate on first use and
    refuses a changed one unless ``trust_new``; ``tofu`` (trust on first use,
    as ssh does) makes the known-devices file the whole trust decision when no
    ``ca`` is given (its default location unless ``known_devices`` names one);
    ``insecure`` checks nothing (the pin and known-devices checks still apply);
    ``crl`` (PEM or DER, with ``ca``) refuses a device it revokes.

    Raises, within ``connect_timeout`` and usually at once: `UsageError` (bad
    URL), `ConnectError` (DNS, refused, unreachable), `TLSError` (every
    certificate or TLS problem, one line saying which), `HandshakeRejected`
    (HTTP status and body), `Timeout`, `PasswordError`/`InvalidInput` (client
    key or files).  Arguments, URL and files are checked when ``open_device(...)``
    is called, the connection is made when its block is entered.

    ``basic_auth`` (user id, password), or ``user:password@`` in the URL: HTTP Basic
    auth (OCPP security profile 2); the password is never in ``Device.url``, messages or recordings.

    ``profile`` (a name, a path, or a loaded `Profile`) makes the device speak
    it: `Device.call("set_speed", speed=1200)` and `Device.events()`; its
    subprotocols are offered unless ``subprotocols`` is given, and its path is
    used when the URL has none (as the CLI does).  Its session owns the
    receiving side: do not mix it with `receive`.

    ``max_buffered_bytes`` (default: 4 MiB, or ``max_message_size`` if larger) bounds
    what the device's messages may occupy before they are read; past it the client closes with 1008.
    """
    if profile is not None:
        profile, url, subprotocols = _speaking(profile, url, subprotocols)
    target = _c.parse_target(url, allow_plaintext=allow_plaintext)
    pin, known_devices, verify_chain = _trust_settings(pin, tofu, known_devices, ca, insecure)
    ctx = _client_context(
        target, ssl_context, ca=ca, cert=cert, key=key, password=password, crl=crl, insecure=insecure,
        verify_chain=verify_chain,
    )  # fmt: skip
    header_items = _c.checked_headers(tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers))
    header_items += _authorization(target, basic_auth, header_items)
    if tls_server_name is not None:
        _c.checked_host_name(tls_server_name, "tls_server_name")
    _check_times(connect_timeout=connect_timeout, close_timeout=close_timeout, ping_timeout=ping_timeout)
    if ping_interval is not None:
        _check_times(ping_interval=ping_interval)
    own_cert = cert if ssl_context is None else None
    upgrade_options = _upgrade_options(
        subprotocols, header_items, max_message_size, receive_buffer_size, max_buffered_bytes
    )
    upgrade_options.update(sent_client_cert=None if ssl_context is not None else cert is not None, client_cert=own_cert)
    # the checks above are done now; the connection when the block is entered, in one
    # context manager (a second layer of them cost every wake-up of the open a frame more)
    return _connected(
        target, ctx, connect_timeout, upgrade_options, server_name=tls_server_name, own_cert=own_cert,
        trust=dict(pin=pin, known_devices=known_devices, trust_new=trust_new), close_timeout=close_timeout,
        subprotocols=tuple(subprotocols), profile=profile, ping=(ping_interval, ping_timeout),
    )  # fmt: skip


def _check_times(**seconds: float) -> None:
    """Timeouts and intervals are finite numbers of seconds, not negative; else `UsageError`."""
    for name, value in seconds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise UsageError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


def _trust_settings(
    pin: str | None, tofu: bool, known_devices: PathLike | None, ca: PathLike | None, insecure: bool
) -> tuple[str | None, PathLike | None, bool]:
    """(the pin normalized, the known-devices file, whether to check the chain)."""
    if tofu and known_devices is None:
        known_devices = _c.kd.default_path()
    if pin is not None:
        pin = _c.kd.normalize_fingerprint(pin)
    # a pin or trust-on-first-use without a CA replaces the chain check
    return pin, known_devices, not insecure and not ((pin is not None or tofu) and ca is None)


@contextlib.asynccontextmanager
async def _connected(
    target: _c.Target,
    ctx: ssl.SSLContext | None,
    connect_timeout: float,
    upgrade_options: dict[str, Any],
    *,
    server_name: str | None,
    own_cert: PathLike | None,
    trust: dict[str, Any],
    close_timeout: float,
    subprotocols: tuple[str, ...],
    profile: Profile | None,
    ping: tuple[float | None, float],
) -> AsyncIterator[Device]:
    """TCP, TLS, the trust checks and the WebSocket upgrade within one deadline,
    then the `Device` until the block ends (it is closed then)."""
    deadline = trio.current_time() + connect_timeout
    stream, der, decision = await _open_trusted_tls(target, ctx, deadline, server_name, own_cert, **trust)
    # the upgrade outside the nursery: its error reaches the caller as itself (trap 8)
    try:
        result = await _c.upgrade(stream, target, deadline=deadline, **upgrade_options)
    except BaseException:  # the caller's own cancel: the socket now, not when the GC finds it
        await trio.aclose_forcefully(stream)
        raise
    if isinstance(result, BaseException):
        raise result
    _c.keep_tls_session(stream, ctx, target, server_name)
    device = _connected_device(result, target, der, stream, close_timeout, decision, subprotocols)
    with _single_exception():
        async with trio.open_nursery() as nursery:
            # reads for a device nobody reads run here (`client_open.watch_unattended`)
            _c.watch_unattended(result, nursery)
            try:
                interval, timeout = ping
                if interval:
                    from wsctl.net.keepalive import keepalive  # only when asked for: start-up

                    nursery.start_soon(
                        lambda: keepalive(result, interval=interval, timeout=timeout, on_dead=device._abort)
                    )
                if profile is not None:
                    await device._speak(profile, nursery)
                try:
                    yield device
                finally:
                    await device._close(shield=True)
            finally:
                _c.unwatch(result)
                if nursery.child_tasks:  # a session, a keepalive, a read for nobody: nothing else to cancel
                    nursery.cancel_scope.cancel()


@contextlib.contextmanager
def _single_exception() -> Iterator[None]:
    """The body's exception, not ExceptionGroup([it]) (trap 8); `trio.Cancelled`
    for the caller's own cancellation (`_guard.unwrap_nursery`)."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = unwrap_nursery(group)
        if leaf is group:
            raise
        raise leaf from leaf.__cause__


def _upgrade_options(
    subprotocols: Iterable[str],
    headers: tuple[tuple[str, str], ...],
    max_message_size: int,
    receive_buffer_size: int | None,
    max_buffered_bytes: int | None,
) -> dict[str, Any]:
    if max_buffered_bytes is None:
        max_buffered_bytes = max(websocket.MAX_BUFFERED_BYTES, max_message_size)
    return dict(
        subprotocols=tuple(subprotocols),
        headers=headers,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        max_buffered_bytes=max_buffered_bytes,
    )


async def _open_trusted_tls(
    target: _c.Target,
    ctx: ssl.SSLContext | None,
    deadline: float,
    server_name: str | None,
    own_cert: PathLike | None,
    **trust: Any,
) -> tuple[Any, bytes | None, Any]:
    """TCP, TLS and the pin/known-devices checks: (stream, the device's certificate, the known-devices decision).

    Outside any nursery (trap 8), so their errors reach the caller as themselves."""
    stream, der = await _c.open_tls(target, ctx, deadline=deadline, server_name=server_name, client_cert=own_cert)
    try:
        return stream, der, _check_trust(target, der, **trust)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


def _connected_device(
    connection: Any,
    target: _c.Target,
    der: bytes | None,
    stream: Any,
    close_timeout: float,
    decision: Any,
    offered: tuple[str, ...],
) -> Device:
    device = Device(connection, target, der, stream, close_timeout)
    device.known_device = decision.action if decision else None
    log_connection(target, stream, der, known_device=device.known_device, offered=offered, chosen=device.subprotocol)
    return device
