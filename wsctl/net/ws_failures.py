"""Why a `wsctl.net.websocket.WebSocket` closes because of what the peer did.

A `Failure` is what we closed for (code, the reason sent in the close frame,
and a line for messages: "sent an invalid frame (...)"); the frame reader
(`wsctl.net.ws_frames.FrameReader`) and the connection's limits make them.
"""

from __future__ import annotations

from typing import NamedTuple


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
