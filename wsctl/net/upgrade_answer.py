"""What a device actually answered to our WebSocket upgrade, from its raw bytes.

When the upgrade fails inside wsproto/h11 the library's words describe its own
state ("can't handle event type Response when role=CLIENT ..."), not what the
device did.  The connection keeps the first bytes it received
(`ObservedStream.head`); this module reads them again and says it plainly.
Pure: bytes in, a wsctl error (or None) out.
"""

from __future__ import annotations

from wsctl.core.errors import HandshakeRejected, TLSError, WsctlError

#: TLS record types a server sends first: handshake (22) or alert (21), version 3.x
_TLS_RECORD_STARTS = (b"\x16\x03", b"\x15\x03")


def tls_port(where: str) -> TLSError:
    return TLSError(
        f"{where}: the device answered with TLS: this port speaks wss://, not ws://", hint="use a wss:// URL"
    )


def _headers(head: bytes) -> tuple[int | None, dict[str, list[str]]]:
    text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = text.split("\r\n")
    status: int | None = None
    parts = lines[0].split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def explain(head: bytes, *, where: str, secure: bool, offered_subprotocols: tuple[str, ...]) -> WsctlError | None:
    """The error that says what the device did, or None when the bytes do not tell."""
    if not secure and head.startswith(_TLS_RECORD_STARTS):
        return tls_port(where)
    if not head.startswith(b"HTTP/"):
        return None
    status, headers = _headers(head)
    if status is None:
        return None
    if status != 101:
        return HandshakeRejected(f"{where}: WebSocket upgrade rejected with HTTP {status}", status=status)
    chosen = _split(headers.get("sec-websocket-protocol", []))
    if chosen and (len(chosen) > 1 or chosen[0] not in offered_subprotocols):
        offered = ", ".join(offered_subprotocols) if offered_subprotocols else "none"
        return HandshakeRejected(
            f"{where}: the device accepted with subprotocol {chosen[0]!r}, which we did not offer (offered: {offered})",
            status=101,
            hint="offer it with --subprotocol (or use the profile that speaks it)",
        )
    extensions = _split(headers.get("sec-websocket-extensions", []))
    if extensions:
        name = extensions[0].split(";")[0].strip()
        return HandshakeRejected(
            f"{where}: the device enabled extension {name!r}, which we did not offer (wsctl offers no extensions)",
            status=101,
        )
    return None
