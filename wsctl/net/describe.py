"""What `-v` shows about a connection, as `curl -v` and `openssl s_client` do.

One INFO line per fact on the ``wsctl.net.client_open`` logger, written once the
WebSocket is open: where we connected, the TLS version and cipher, the device
certificate (subject, names, issuer, fingerprint, expiry), what the
known-devices file did, the request path, and the subprotocols offered and
chosen.  Nothing here is computed unless INFO is enabled.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

log = logging.getLogger("wsctl.net.client_open")


def _peer_address(stream: Any) -> str:
    sock_stream = getattr(stream, "transport_stream", stream)
    try:
        host, port = sock_stream.socket.getpeername()[:2]
    except (AttributeError, OSError):
        return "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def certificate_lines(der: bytes) -> list[str]:
    from cryptography import x509

    from wsctl.net.client_open import fingerprint
    from wsctl.net.tlserrors import certificate_names

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return ["device certificate: (unreadable)"]
    return [
        f"device certificate: subject {cert.subject.rfc4514_string()}; names {certificate_names(der)}",
        f"device certificate: issuer {cert.issuer.rfc4514_string()}; expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; {fingerprint(der)}",
    ]


def log_connection(
    target: Any,
    stream: Any,
    der: bytes | None,
    *,
    known_device: str | None,
    offered: tuple[str, ...],
    chosen: str | None,
) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    where = target.where
    lines = [f"connected (TCP peer {_peer_address(stream)})"]
    if isinstance(stream, trio.SSLStream):
        cipher = stream.cipher()
        resumed = ", session resumed" if stream.session_reused else ""
        lines.append(f"TLS {stream.version()}, cipher {cipher[0] if cipher else '?'}{resumed}")
    if der:
        lines += certificate_lines(der)
    if known_device:
        lines.append(
            {
                "record": "known devices: first use, fingerprint recorded",
                "known": "known devices: fingerprint matches the recorded one",
                "replace": "known devices: changed fingerprint accepted and recorded (--trust-new)",
            }.get(known_device, known_device)
        )
    lines.append(
        f"GET {target.resource} -> HTTP 101; subprotocols offered: {', '.join(offered) or 'none'}; chosen: {chosen or 'none'}"
    )
    for line in lines:
        log.info("%s: %s", where, line)
