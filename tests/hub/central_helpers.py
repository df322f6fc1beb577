"""Helpers for the central-side tests: the shipped central-system profiles, an
in-memory stand-in for the registry's transactions and id tags, and one device
frame through `ClientCodec.feed` to `CentralSide` as the hub routes it."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from wsctl.core.hub.central import Answer, CentralContext, CentralSide
from wsctl.core.profile.codec import ClientCodec
from wsctl.core.profile.events import DeviceRequest, Malformed
from wsctl.core.profile.loader import parse_profile

NOW = "2026-12-02T03:30:00Z"
#: error codes each OCPP version defines for a CALLERROR (1.6 4.2.3; 2.0.1 part 4, 4.3)
CALLERROR_CODES = {
    "ocpp16": {
        "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
        "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
    },
    "ocpp201": {
        "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented",
        "NotSupported", "OccurrenceConstraintViolation", "PropertyConstraintViolation", "ProtocolError",
        "RpcFrameworkError", "SecurityError", "TypeConstraintViolation",
    },
}  # fmt: skip


def shipped(name: str):
    text = resources.files("wsctl").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    return parse_profile(text, source=f"{name}.toml")


class Ledger:
    """What the hub's registry answers the central side: id tags, transactions."""

    def __init__(self) -> None:
        self.id_tags = {"04A2B3C4": "Accepted", "BLOCKED01": "Blocked", "OLD00001": "Expired"}
        self.started: list[dict[str, Any]] = []
        self.stopped: list[dict[str, Any]] = []
        self.next_id = 1000

    def id_tag_status(self, id_tag: str) -> str:
        return self.id_tags.get(id_tag, "Invalid")

    def start(self, fields: dict[str, Any]) -> int:
        self.started.append(fields)
        self.next_id += 1
        return self.next_id

    def stop(self, fields: dict[str, Any]) -> bool:
        self.stopped.append(fields)
        return fields.get("transaction_id") in range(1001, self.next_id + 1)

    def context(self, status: str = "approved", device: str = "CP-17") -> CentralContext:
        return CentralContext(device, status, NOW, self.id_tag_status, self.start, self.stop)


def route(profile, side: CentralSide, frame: str | bytes, ctx: CentralContext) -> Answer | None:
    """What the hub does with one device frame: feed it, answer calls and
    malformed frames (replies and the rest are not the central side's)."""
    events = ClientCodec(profile).feed(frame, now=0.0)
    assert len(events) == 1
    event = events[0]
    if isinstance(event, DeviceRequest):
        return side.answer(event, ctx)
    if isinstance(event, Malformed):
        return side.malformed(event, ctx)
    return None


def call(action: str, payload: Any, call_id: str = "m-1") -> str:
    return json.dumps([2, call_id, action, payload])


def result_of(answer: Answer, call_id: str = "m-1") -> Any:
    assert answer is not None and answer.error is None, answer
    frame = json.loads(answer.frame)
    assert frame[:2] == [3, call_id] and len(frame) == 3
    return frame[2]


def error_of(answer: Answer, profile_id: str) -> tuple[Any, str]:
    """(message id, code) of a CALLERROR, after checking it is one OCPP defines."""
    assert answer is not None and answer.frame is not None and answer.effects == ()
    frame = json.loads(answer.frame)
    assert len(frame) == 5 and frame[0] == 4 and isinstance(frame[3], str) and frame[4] == {}
    assert frame[2] in CALLERROR_CODES[profile_id], frame
    assert answer.error and frame[2] in answer.error
    return frame[1], frame[2]
