"""Why a `wsctl.net.websocket.WebSocket` closes because of what the peer did.

A `Failure` is what we closed for (code, the reason sent in the close frame,
and a line for messages: "sent an invalid frame (...)"); `LimitedFrameDecoder`
refuses a frame header that announces more than the message limit before its
payload arrives and unmasks in C where it can (wsproto 1.3 internals: the
decoder's class is swapped;
tests/net/test_net_limits.py fails if that stops working).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from wsproto.frame_protocol import CloseReason as Code
from wsproto.frame_protocol import FrameDecoder, Opcode, ParseFailed, XorMaskerSimple

from wsctl.net.ws_frames import Masker


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


def protocol_failure(code: int, why: str) -> Failure:
    if code == Code.MESSAGE_TOO_BIG:
        # from LimitedFrameDecoder, whose message is "<size> <limit>"
        size, limit = (int(x) for x in why.split())
        return message_too_big(limit, size)
    what = "invalid UTF-8" if code == Code.INVALID_FRAME_PAYLOAD_DATA else "an invalid frame"
    return Failure(code, f"invalid frame: {why}"[:123], f"sent {what} ({why})")


class LimitedFrameDecoder(FrameDecoder):
    """wsproto's decoder, refusing a data frame whose header announces more
    than the message limit (with the frames of the message before it)."""

    def __init__(self, client: bool, extensions: list[Any] | None, max_message_size: int) -> None:
        super().__init__(client, extensions)
        # set here, not on a decoder whose class was swapped: attributes added
        # to an instance of another class make Python build it a dict (400 bytes
        # per connection)
        self.max_message_size = max_message_size
        self.declared = 0

    def parse_header(self) -> bool:
        if not super().parse_header():
            return False
        if type(self.masker) is XorMaskerSimple:
            # wsproto's pure-Python XOR: 131 us per 64 KiB (ws_frames)
            self.masker = Masker(self.masker._masking_key)  # type: ignore[assignment]
        header = self.header
        assert header is not None
        if header.opcode is Opcode.CONTINUATION:
            self.declared += header.payload_len
        elif not header.opcode.iscontrol():
            self.declared = header.payload_len
        else:
            return True
        if self.declared > self.max_message_size:
            raise ParseFailed(f"{self.declared} {self.max_message_size}", Code.MESSAGE_TOO_BIG)
        return True
