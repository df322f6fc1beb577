"""The TLS sessions a client may resume: this process's earlier connections to the same device.

A connection that follows another to the same device (a script's loop, a
watch or console reconnecting, a simulator dialing its hub again) resumes the
TLS session of the one before instead of making a full handshake: on the
plant store's P-256 certificates that is ~0.55 ms of the client's CPU instead
of ~1.8 ms and ~1.3 ms of the server's instead of ~2.3 ms (no certificate
chain sent, checked or signed for; docs/performance.md).  The server decides:
one that restarted, or whose CRL changed (wsctl's servers then rebuild their
context and with it the ticket keys), ignores the ticket and the handshake is
a full one, in the same round trips.

What a resumed session does not do again is check the device's chain: that
was done by the full handshake that began the chain of resumptions, with the
same `SSLContext`, at most `MAX_AGE` seconds (or the server's ticket
lifetime, if shorter) before: a resumed connection's new ticket keeps the
deadline of the one it used.  The
device's certificate is still there (``getpeercert``), so pins and known
devices are checked as after a full handshake, and the server still has the
client's certificate from the ticket (the operator's identity and role).

Sessions are keyed by the context object (new certificate, key or CA files
make a new one: `tls.cached_client_context`), the address and the server
name; each is used once (RFC 8446 C.4), and the connection that used it
leaves the one it was given.  Except where taking a session leaks
(`REUSE_SESSIONS`): there a session is taken after a full handshake only and
offered to every connection until its deadline.  A device whose handshake fails after it was
offered a session is not offered one again by this process: a TLS stack that
mishandles resumption costs one failed connection, not every other one.
"""

from __future__ import annotations

import ssl
import sys
import time
import weakref
from collections import OrderedDict
from typing import Any

#: sessions kept per process (the oldest goes first); a few KiB each
MAX_SESSIONS = 1024
#: a session is not resumed after this many seconds, whatever the server allows
MAX_AGE = 600.0

Key = tuple[Any, str, int, str]

#: the clock of `MAX_AGE` (a test moves it)
_clock = time.monotonic

#: kept sessions per device, the newest last (several: connections to one server
#: that overlap, an operator's fleet through a hub, each take one)
_SESSIONS: OrderedDict[Key, list[tuple[ssl.SSLSession, float]]] = OrderedDict()
#: devices connected to once: a session is kept from a device's second
#: connection on.  Taking it (``SSLObject.session``) copies it through its DER,
#: peer certificate included: ~0.34 ms, which a fan-out that reaches each device
#: once would pay a thousand times for nothing (docs/performance.md)
_SEEN: OrderedDict[Key, None] = OrderedDict()
_REFUSED: set[Key] = set()
#: the deadline of the session a stream was offered: a resumed connection's new
#: ticket inherits it, so a chain of resumptions ends `MAX_AGE` after the full
#: handshake that began it (RFC 8446 4.6.1), however often the device is reached
_OFFERED: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
#: sessions kept per device
PER_DEVICE = 8

#: CPython gh-116810: reading ``SSLObject.session`` leaked the copy it made
#: (~7 KiB of native memory with a device's chain, never freed) from 3.10 until
#: the fix (3.12.8, 3.13.1; 3.11 never got it).  There, a session is taken once,
#: after the full handshake that made it, and offered again to every later
#: connection until its deadline (`offer` leaves it; `keep` reads nothing after
#: a resumption): the ticket is reused, which RFC 8446 C.4 advises against
#: (an observer can link the connections; the device knows it is us anyway),
#: rather than a leak per connection.  A server that accepts each ticket once
#: makes every other connection a full handshake, which takes a new session.
REUSE_SESSIONS = sys.version_info < (3, 12, 8) or (3, 13) <= sys.version_info < (3, 13, 1)


def key(ctx: ssl.SSLContext, host: str, port: int, server_name: str) -> Key:
    return (ctx, host, port, server_name)


def offer(tls: Any, where: Key) -> bool:
    """Give the stream (before its handshake) the newest fresh session kept for ``where``, if any."""
    kept = _SESSIONS.get(where)
    if not kept or where in _REFUSED:
        return False
    now = _clock()
    while kept:
        session, expires = kept[-1] if REUSE_SESSIONS else kept.pop()
        if now < expires:
            tls.session = session
            _OFFERED[tls] = expires
            return True
        if REUSE_SESSIONS:
            kept.pop()
    return False


def keep(tls: Any, where: Key) -> None:
    """Keep the stream's session for a later connection to ``where`` (after the
    first read: a TLS 1.3 server's ticket comes after the handshake), from the
    device's second connection on."""
    if where in _REFUSED:
        return
    if where not in _SEEN:
        _SEEN[where] = None
        if len(_SEEN) > MAX_SESSIONS:
            _SEEN.popitem(last=False)
        return
    now = _clock()
    kept = [entry for entry in _SESSIONS.get(where, ()) if entry[1] > now]
    inherited = _OFFERED.pop(tls, None)
    if REUSE_SESSIONS:
        if tls.session_reused:
            return  # the session it used is still offered (or expired, and its ticket with it)
        kept = []  # a full handshake: its session replaces the one the server ignored
    elif len(kept) >= PER_DEVICE:
        return  # enough for the connections under way: taking another would only push one out
    session = tls.session
    if session is None or not (session.has_ticket or (tls.version() != "TLSv1.3" and session.id)):
        return
    expires = now + min(MAX_AGE, float(session.timeout))
    if inherited is not None and tls.session_reused:
        expires = min(expires, inherited)
    kept.append((session, expires))
    _SESSIONS[where] = kept
    _SESSIONS.move_to_end(where)
    while len(_SESSIONS) > MAX_SESSIONS:
        _SESSIONS.popitem(last=False)


def refused(where: Key) -> None:
    """A handshake that offered a session failed: offer ``where`` none again."""
    _SESSIONS.pop(where, None)
    if len(_REFUSED) >= MAX_SESSIONS:
        _REFUSED.clear()
    _REFUSED.add(where)


def forget() -> None:
    """Drop every kept session and what was seen, as in a new process (tests; a
    process that wants full handshakes again)."""
    _SESSIONS.clear()
    _SEEN.clear()
    _REFUSED.clear()
    _OFFERED.clear()
