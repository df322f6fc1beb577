"""What the tool's side of a profile reads from a device: one event type per case.

Every event is a `CodecEvent` (as every wsproto event is an `Event`) and
carries ``raw``, the message it was read from, exactly as it arrived.
`ClientCodec.feed` returns them; `wsctl.net.session.Session` routes them
(replies to their call, device requests answered) and yields the rest.

  Reply          the answer to a pending call (ok, or the device's error, or a
                 failed `success` check — OCPP reports business failures
                 inside a CALLRESULT)
  Telemetry      an unsolicited message (JSON-RPC notification, #EVT line ...)
  DeviceRequest  the device asks and must be answered; `answer` is the wire
                 reply (the event's auto-reply, or the protocol's
                 "not implemented" error)
  Unmatched      a reply whose id nobody waits for (late, after a timeout, or
                 unknown) — reported, never mistaken for another reply
  Malformed      not JSON, or fits no rule
  Received       a message read without a profile: nothing to decode it by

A consumer handles each of these explicitly; `EVENT_TYPES` lists them, and a
test fails when a type is added that a consumer does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsctl.core.profile.model import Command, Event


@dataclass(frozen=True)
class Outgoing:
    """A framed call, ready for the wire (`ClientCodec.call`)."""

    id: Any
    command: Command
    params: dict[str, Any]
    wire: str
    deadline: float


@dataclass(frozen=True)
class DeviceErrorInfo:
    code: Any
    message: str
    detail: Any = None


class CodecEvent:
    """Base of every event read from a device; ``raw`` is the message as it arrived.

    Not a dataclass itself: each event keeps its fields in the order it has
    always had (``raw`` is not first everywhere), so positional construction
    does not change meaning."""

    raw: str | bytes


@dataclass(frozen=True)
class Reply(CodecEvent):
    id: Any
    command: Command
    payload: Any
    raw: str | bytes
    error: DeviceErrorInfo | None = None
    #: why a `success` check failed, in the device's words where possible
    failed_check: str | None = None
    elapsed: float = 0.0
    #: the call this answers
    request: Outgoing | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed_check is None


@dataclass(frozen=True)
class Telemetry(CodecEvent):
    name: str
    event: Event | None
    payload: Any
    raw: str | bytes


@dataclass(frozen=True)
class DeviceRequest(CodecEvent):
    id: Any
    name: str
    event: Event | None
    payload: Any
    raw: str | bytes
    answer: str | None


@dataclass(frozen=True)
class Unmatched(CodecEvent):
    id: Any
    raw: str | bytes
    reason: str


@dataclass(frozen=True)
class Malformed(CodecEvent):
    raw: str | bytes
    reason: str


@dataclass(frozen=True)
class Received(CodecEvent):
    """A message on a connection without a profile."""

    raw: str | bytes


#: every concrete event type, in the order of the module docstring
EVENT_TYPES: tuple[type[CodecEvent], ...] = (Reply, Telemetry, DeviceRequest, Unmatched, Malformed, Received)
