"""What became of one operator's call through a hub, as data: rendered into
the protocol's answer for a local operator, or carried over the broker to the
hub the operator is connected to (federation) and rendered there."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: outcomes the hub reports (audit, metrics, federation); stable names
OUTCOMES = ("ok", "failed-check", "device-error", "refused", "timeout", "offline", "busy", "expired")


@dataclass(frozen=True)
class CallOutcome:
    outcome: str
    #: the device's reply payload (ok, failed-check)
    payload: Any = None
    #: the device's error (device-error): its code, words and detail, unchanged
    code: Any = None
    message: str | None = None
    detail: Any = None
    #: for the hub's own refusals: the abstract error kind of the profile's framing
    #: ("not_authorized", "device") the operator's answer is written with
    error_kind: str | None = None
    #: seconds from sending to the device to its answer
    elapsed: float | None = None

    @property
    def answered(self) -> bool:
        """The device answered (with a result or an error of its own)."""
        return self.outcome in ("ok", "failed-check", "device-error")

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, values shared, not copied: the dict is
        encoded at once (a reply over the broker), and `dataclasses.asdict`'s
        deep copy of a device's payload cost more than the encoding itself
        (~70 us of a two-hub call's ~1 ms of hub CPU)."""
        found = ((f.name, getattr(self, f.name)) for f in _FIELDS)
        return {k: v for k, v in found if v is not None}

    @classmethod
    def from_dict(cls, doc: Any) -> CallOutcome:
        """From a peer's JSON; anything malformed is a refusal, never an exception."""
        if not isinstance(doc, dict) or doc.get("outcome") not in OUTCOMES:
            return cls("refused", message="malformed answer from the hub holding the device", error_kind="device")
        fields = {k: doc.get(k) for k in ("payload", "code", "detail")}
        message = doc.get("message")
        kind = doc.get("error_kind")
        elapsed = doc.get("elapsed")
        return cls(
            doc["outcome"],
            message=message if isinstance(message, str) else None,
            error_kind=kind
            if kind in ("not_authorized", "device")
            else ("device" if doc["outcome"] not in ("ok", "failed-check", "device-error") else None),
            elapsed=float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None,
            **fields,
        )


_FIELDS = fields(CallOutcome)


def refused(kind: str, message: str, outcome: str = "refused") -> CallOutcome:
    return CallOutcome(outcome, message=message, error_kind=kind)
