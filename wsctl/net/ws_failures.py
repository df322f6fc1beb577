"""Why a `wsctl.net.websocket.WebSocket` closes because of what the peer did.

A `Failure` is what we closed for (code, the reason sent in the close frame,
and a line for messages: "sent an invalid frame (...)"); the frame reader
(`wsctl.net.ws_frames.FrameReader`) and the connection's limits make them.
`CloseReason` is how a connection ended, whoever ended it, and
`ConnectionClosed` carries it (both also importable from `wsctl.net.websocket`).
"""

from __future__ import annotations

from typing import NamedTuple

from wsproto.frame_protocol import CloseReason as Code


class Failure(NamedTuple):  # not a frozen dataclass: cheaper to build at import
    """Why this side closed the connection because of what the peer did."""

    code: int
    reason: str  # sent in the close frame (at most 123 bytes)
    detail: str  # what the peer did, for messages: "sent an invalid frame (...)"


def message_too_big(limit: int, size: int | None = None) -> Failure:
    what = f"a message of {size} bytes" if size is not None else "a larger message"
    return Failure(
        1009,
        f"message over {limit} bytes",
        f"sent {what}, over the {limit}-byte limit (max_message_size, --max-message-size)",
    )


def unread_over(limit: int) -> Failure:
    return Failure(
        1008,
        f"more than {limit} bytes received and not read",
        f"sent more than {limit} bytes that were not read yet (max_buffered_bytes, --max-buffered-bytes)",
    )


class CloseReason:
    """How a connection ended: ``code``, its ``name``, the ``reason`` text (or None)."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str | None) -> None:
        self.code = code
        self.reason = reason

    @property
    def name(self) -> str:
        if self.code == 1014:
            return "BAD_GATEWAY"  # registered after wsproto's table was written
        try:
            return Code(self.code).name
        except ValueError:
            code = self.code
            if 1000 <= code <= 2999:
                return "RFC_RESERVED"
            if 3000 <= code <= 3999:
                return "IANA_RESERVED"
            return "PRIVATE_RESERVED" if 4000 <= code <= 4999 else "INVALID_CODE"

    def __repr__(self) -> str:
        return f"CloseReason<code={self.code}, name={self.name}, reason={self.reason}>"


class ConnectionClosed(Exception):
    """The connection is closed; ``reason`` is its `CloseReason`."""

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(reason)
        self.reason = reason
