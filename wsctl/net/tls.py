"""TLS contexts for the client and the server side.

Defaults follow DESIGN.md section 5: TLS 1.2 floor, 1.3 preferred, the suites small
devices speak (ECDHE-ECDSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256) kept
available, host name *and* IP address verification on.  Everything a user can get
wrong here (a missing file, a wrong passphrase, an expired CRL) is turned into a
one-line wsctl error at context-build time rather than surfacing later as a
mysterious failure of every handshake.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from wsctl.core.errors import InvalidInput, PasswordError, TLSError

log = logging.getLogger("wsctl.net.tls")

ClientAuth = Literal["required", "optional", "none"]

#: Ciphers for TLS 1.2.  OpenSSL's TLS 1.3 suites (which include
#: TLS_AES_128_GCM_SHA256) are not affected by this string.  AES128-GCM comes
#: first because constrained devices (mbedTLS, ESP-IDF) often only have that.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)

PathLike = str | os.PathLike[str]


def _exists(path: PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{what} not found: {p}")
    return p


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    return password.encode()


def _load_cert_chain(ctx: ssl.SSLContext, cert: PathLike, key: PathLike | None, password: str | bytes | None) -> None:
    cert_path = _exists(cert, "certificate")
    key_path = _exists(key, "private key") if key is not None else None
    pw = _password_bytes(password)
    asked: list[bool] = []

    def supply() -> bytes:
        # Called by OpenSSL only when the key is encrypted; lets us tell "no
        # passphrase given" from "wrong passphrase" in the message.
        asked.append(True)
        if pw is None:
            raise PasswordError(f"private key {key_path or cert_path} is encrypted: a passphrase is needed")
        return pw

    try:
        ctx.load_cert_chain(str(cert_path), str(key_path) if key_path else None, password=supply)
    except PasswordError:
        raise
    except ssl.SSLError as exc:
        text = str(exc).lower()
        if asked and ("bad decrypt" in text or "bad password" in text or "pem lib" in text or "decrypt" in text):
            raise PasswordError(f"wrong passphrase for private key {key_path or cert_path}") from None
        if "key values mismatch" in text:
            raise InvalidInput(f"private key {key_path} does not belong to certificate {cert_path}") from None
        raise InvalidInput(f"cannot load certificate/key {cert_path}: {exc.reason or exc}") from None


def _key_log(ctx: ssl.SSLContext) -> None:
    """Honour SSLKEYLOGFILE (as browsers and curl do) so a capture can be
    decrypted in Wireshark, and say loudly that it is on: the file decrypts
    every session it lists."""
    path = os.environ.get("SSLKEYLOGFILE")
    if path:
        ctx.keylog_filename = path
        log.warning(
            "SSLKEYLOGFILE is set: TLS session keys are written to %s; anyone with that file can decrypt these connections",
            path,
        )


def _ca_files(ca: PathLike | Sequence[PathLike] | None) -> list[PathLike]:
    return [] if ca is None else [ca] if isinstance(ca, (str, os.PathLike)) else list(ca)


def _load_cas(ctx: ssl.SSLContext, ca: PathLike | Sequence[PathLike]) -> None:
    for ca_file in _ca_files(ca):
        try:
            ctx.load_verify_locations(cafile=str(_exists(ca_file, "CA file")))
        except ssl.SSLError as exc:
            raise InvalidInput(f"cannot load CA file {ca_file}: {exc.reason or exc}") from None


def client_context(
    *,
    ca: PathLike | Sequence[PathLike] | None = None,
    cert: PathLike | None = None,
    key: PathLike | None = None,
    password: str | bytes | None = None,
    insecure: bool = False,
    verify: bool = True,
    crl: PathLike | None = None,
) -> ssl.SSLContext:
    """An SSLContext for talking to a device.

    ``ca``: PEM file(s) of CA certificates; ``None`` uses the system trust
    store.  A plant store gives its root *and* issuing CA, so a device that
    sends only its leaf certificate is verified: without
    ``VERIFY_X509_PARTIAL_CHAIN`` OpenSSL still has to reach the self-signed
    root, so the issuing CA only helps build the path (docs/tls.md).  ``cert``/``key``: the operator's client certificate (``cert`` may be
    a chain file, ``key`` may be encrypted with ``password``).  ``insecure``
    turns off every check of the device's certificate (never the default).
    ``verify=False`` is the internal switch used when a pin is the whole trust
    decision (see ``docs/tls.md``): the chain is not checked, the pin is.
    ``crl`` (PEM or DER, e.g. the plant store's) refuses a device whose
    certificate it revokes; it needs the chain check (``ca``), and one that is
    past its nextUpdate is refused here, as a server refuses it.
    """
    if crl is not None and (insecure or not verify or ca is None):
        raise InvalidInput(
            "a CRL is checked with the device's certificate chain: give the CA it belongs to (--ca or --certs)"
            + (", without --insecure" if insecure else "")
        )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION
    if insecure or not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if ca is not None:
            _load_cas(ctx, ca)
            # never let a non-root CA in the list become a trust anchor
            ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if crl is not None:
        _load_crl(ctx, crl)
    if cert is not None:
        _load_cert_chain(ctx, cert, key, password)
    elif key is not None:
        raise InvalidInput("a client key was given without its certificate")
    _key_log(ctx)
    return ctx


def _check_crl(crl: Path) -> list[bytes]:
    """The CRLs of the file (DER), refused if OpenSSL would silently use one to fail every handshake.

    Their dates are read from the DER (`crlinfo`), without cryptography: a
    client that checks its store's CRL on every one-shot command must not pay
    that import; a CRL that does not parse is refused when OpenSSL loads it."""
    from wsctl.pki.crlinfo import crl_ders, der_next_update

    try:
        ders = crl_ders(crl.read_bytes())
        dates = [der_next_update(der) for der in ders]
    except ValueError as exc:
        raise InvalidInput(f"CRL {crl} does not parse: {exc}") from None
    now = _dt.datetime.now(_dt.UTC)
    for next_update in dates:
        if next_update is not None and next_update < now:
            raise TLSError(
                f"CRL {crl} expired at {next_update:%Y-%m-%d %H:%M} UTC; every certificate it covers would be refused",
                hint="publish a fresh one: wsctl certs crl",
            )
    return ders


def _load_crl(ctx: ssl.SSLContext, crl: PathLike) -> None:
    """Check the peer's leaf certificate against ``crl`` (PEM or DER) from now on.

    Only the file's CRLs reach OpenSSL, through a file of their own: OpenSSL's
    file loader (the only one that takes CRLs) would also take any certificate
    in it as a trust anchor, and a CRL may come from anywhere (it is signed)."""
    import tempfile

    from wsctl.pki.crlinfo import crl_pem

    crl_path = _exists(crl, "CRL")
    ders = _check_crl(crl_path)
    fd, name = tempfile.mkstemp(suffix=".crl.pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(crl_pem(der) for der in ders))
        ctx.load_verify_locations(cafile=name)
    except ssl.SSLError as exc:
        raise InvalidInput(f"cannot load CRL {crl_path}: {exc.reason or exc}") from None
    finally:
        os.unlink(name)
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def server_context(
    *,
    cert_chain: PathLike,
    key: PathLike | None = None,
    password: str | bytes | None = None,
    ca: PathLike | Sequence[PathLike] | None = None,
    crl: PathLike | None = None,
    client_auth: ClientAuth | None = None,
) -> ssl.SSLContext:
    """An SSLContext for a wss server (a simulated device, an echo server).

    ``ca`` is one CA file or several (a plant store gives root and issuing CA,
    so clients that send only their leaf certificate — openssl, browsers, many
    device stacks — are verified too).

    ``client_auth`` defaults to ``"required"`` when ``ca`` is given and ``"none"``
    otherwise.  ``crl`` (PEM or DER) turns on revocation checks of client leaf
    certificates; a CRL that is missing or past its nextUpdate is refused here,
    because OpenSSL would otherwise fail every client handshake with a vague
    "unable to get certificate CRL".
    """
    if client_auth is None:
        client_auth = "required" if ca is not None else "none"
    if client_auth not in ("required", "optional", "none"):
        raise InvalidInput(f"client_auth must be required, optional or none, not {client_auth!r}")
    if client_auth != "none" and ca is None:
        raise InvalidInput("client certificates can only be checked against a CA: give ca=")
    if crl is not None and ca is None:
        raise InvalidInput("a CRL needs the CA it belongs to: give ca=")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    # One TLS 1.3 session ticket, not OpenSSL's two: a device resumes one
    # connection at a time, and the second ticket cost ~0.4 ms of the server's
    # ~2.2 ms per full mutual-TLS handshake (docs/performance.md).  A context
    # rebuilt for a new CRL has new ticket keys, so no revoked peer resumes.
    ctx.num_tickets = 1
    _load_cert_chain(ctx, cert_chain, key, password)
    if ca is not None:
        _load_cas(ctx, ca)
    ctx.verify_mode = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}[client_auth]
    if crl is not None:
        _load_crl(ctx, crl)
    _key_log(ctx)
    return ctx


_CACHE: dict[tuple, ssl.SSLContext] = {}

#: within `files_rechecked_every` (a CLI command's fleet): the context for the
#: same arguments is reused without looking at the files, for this long
FILES_RECHECK_AFTER = 1.0

#: (when the files were last looked at, the context) by the arguments as given
_recent: contextvars.ContextVar[dict[tuple, tuple[float, ssl.SSLContext]] | None] = contextvars.ContextVar(
    "wsctl_tls_recent", default=None
)

#: the clock of `FILES_RECHECK_AFTER` (a test moves it)
_clock = time.monotonic


@contextlib.contextmanager
def files_rechecked_every_second() -> Iterator[None]:
    """In this block (and the tasks started in it), `cached_client_context`
    looks at the files behind a context at most once per `FILES_RECHECK_AFTER`
    instead of on every call.  A fleet's 1,000 connections stat()ed the same
    five files 1,000 times (0.17 ms per device, docs/performance.md); a
    certificate renewed meanwhile is still picked up by the connections opened
    a second later (a watch's reconnect) and by every later command."""
    token = _recent.set({})
    try:
        yield
    finally:
        _recent.reset(token)


def cached_client_context(**kw: object) -> ssl.SSLContext:
    """`client_context` memoised on its arguments and the files' mtimes.

    Loading the CA and an encrypted key costs more than the TLS handshake itself
    (bench/: handshakes/s went from 0.7x to ~1x of a reused context); a fleet
    run or a reconnect loop opens many connections with the same files.  A file
    that changes on disk (a renewed certificate) misses the cache; within
    `files_rechecked_every_second`, from the next look at the files on.
    """
    recent = _recent.get()
    if recent is None:
        return _stamped_context(kw)
    now = _clock()
    try:
        # the CLI gives its CAs as a list: the same list's contents, as a tuple
        given: tuple | None = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in kw.items())
        hit = recent.get(given)  # type: ignore[arg-type]
    except TypeError:  # another unhashable argument: look at the files every time
        given, hit = None, None
    if hit is not None and now - hit[0] < FILES_RECHECK_AFTER:
        return hit[1]
    ctx = _stamped_context(kw)
    if given is not None:
        recent[given] = (now, ctx)
    return ctx


def _stamped_context(kw: dict[str, object]) -> ssl.SSLContext:
    """The context for ``kw`` from `_CACHE`, keyed on the files' mtimes as they are now."""

    def stamp(value: object) -> object:
        if value is None or isinstance(value, (bool, bytes)):
            return value
        if isinstance(value, (list, tuple)):
            return tuple(stamp(v) for v in value)
        # os.stat, not Path.stat: this runs for every connection of a fleet
        # run, and building Path objects was most of its cost
        name = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        try:
            return (name, os.stat(name).st_mtime_ns)
        except OSError:
            return (name, None)  # client_context reports the missing file

    key = tuple(sorted((k, stamp(v) if k != "password" else v) for k, v in kw.items())) + (
        os.environ.get("SSLKEYLOGFILE"),
    )
    ctx = _CACHE.get(key)
    if ctx is None:
        ctx = client_context(**kw)  # type: ignore[arg-type]
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = ctx
    return ctx


def crl_next_update(path: PathLike) -> _dt.datetime | None:
    """The CRL's nextUpdate (UTC), or None when it has none or cannot be read now
    (a CRL being rewritten is read again at the next check)."""
    from wsctl.pki.crlinfo import crl_next_update as read_next_update

    try:
        return read_next_update(os.fspath(path))
    except InvalidInput:
        return None


#: how often a warning about an expiring CRL is repeated
CRL_WARN_EVERY = 3600.0


class CrlReloader:
    """Picks up a re-issued CRL without a restart, and warns before it expires.

    `wsctl certs revoke` rewrites the CRL (atomically); a running device must
    refuse the revoked operator from the next handshake on, not after a
    restart.  Each new connection costs one stat(); when the file's mtime or
    size changed, the TLS context is rebuilt.  A CRL that fails to load (expired,
    unreadable) keeps the previous context and is logged.

    A CRL past its nextUpdate makes OpenSSL refuse *every* client, and the
    clients are told their certificate "expired"; so the server says it in its
    log a day ahead (at start-up, then hourly: `warn_periodically`) and once
    more, as an error, when it has happened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        build: Callable[[], ssl.SSLContext],
        now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
    ) -> None:
        self.path = os.fspath(path)
        self.build = build
        self.now = now
        self.stamp = self._stamp()
        self.next_update = crl_next_update(self.path)
        self._expired_logged = False
        self.check_expiry()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def check_expiry(self) -> str | None:
        """Log (and return) the warning or error the CRL's nextUpdate calls for now."""
        if self.next_update is None:
            return None
        left = self.next_update - self.now()
        when = f"{self.next_update:%Y-%m-%d %H:%M} UTC"
        if left <= _dt.timedelta(0):
            if self._expired_logged:
                return None
            self._expired_logged = True
            text = (
                f"CRL {self.path} expired at {when}: every client is refused (they are told their certificate expired) "
                f"until a fresh CRL is published (wsctl certs crl)"
            )
            log.error("%s", text)
            return text
        from wsctl.pki.crlinfo import WARN_WITHIN

        if left <= WARN_WITHIN:
            hours = left.total_seconds() / 3600
            text = (
                f"CRL {self.path} expires at {when} (in {hours:.1f} h): publish a fresh one (wsctl certs crl) "
                f"before then, or every client will be refused"
            )
            log.warning("%s", text)
            return text
        return None

    async def warn_periodically(self) -> None:
        """Repeat `check_expiry` hourly (and right at the expiry) while the server runs."""
        import trio

        while True:
            wait = CRL_WARN_EVERY
            if self.next_update is not None:
                until = (self.next_update - self.now()).total_seconds()
                if 0 < until < wait:
                    wait = until + 0.5
            await trio.sleep(wait)
            self.check_expiry()

    def current(self, context: ssl.SSLContext) -> ssl.SSLContext:
        stamp = self._stamp()
        if stamp is None or stamp == self.stamp:
            return context
        self.stamp = stamp
        try:
            fresh = self.build()
        except (InvalidInput, PasswordError, TLSError) as exc:
            log.error("CRL %s changed but cannot be used (%s); keeping the previous one", self.path, exc)
            return context
        log.info("CRL %s changed: reloaded", self.path)
        self.next_update = crl_next_update(self.path)
        self._expired_logged = False
        self.check_expiry()
        return fresh


def server_context_from_files(
    cert_chain: str, key: Any, password: Any, ca: Any, crl: Any, client_auth: Any
) -> tuple[ssl.SSLContext, Any]:
    """The server's TLS context from files, and its CRL reloader (None without a CRL)."""

    def build() -> ssl.SSLContext:
        return server_context(
            cert_chain=cert_chain, key=key, password=password, ca=ca, crl=crl, client_auth=client_auth
        )

    return build(), CrlReloader(crl, build) if crl is not None else None
