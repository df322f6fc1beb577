"""How messages and per-device results look, in both renderings.

JSON keys are stable (documented in docs/client-server.md):
  message: {"time", "device", "direction", "type": "text"|"binary", "data"}
           binary data is base64, so a JSON line is always valid UTF-8
  result:  {"device", "ok", "elapsed", ...} plus "replies" or "error"/"message"/"exit_code"
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from wsctl.core.errors import WsctlError


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_fields(message: str | bytes) -> dict[str, str]:
    if isinstance(message, bytes):
        return {"type": "binary", "data": base64.b64encode(message).decode("ascii")}
    return {"type": "text", "data": message}


def message_record(
    device: str, message: str | bytes, *, direction: str = "in", time: str | None = None
) -> dict[str, Any]:
    return {"time": time or now_iso(), "device": device, "direction": direction, **message_fields(message)}


def message_human(message: str | bytes) -> str:
    if isinstance(message, bytes):
        return f"<binary {len(message)} bytes> {base64.b64encode(message).decode('ascii')}"
    return message


def message_line(record: dict[str, Any], *, show_device: bool) -> str:
    """`12:00:01.234 plc-17 < {"speed": 1200}` on a terminal."""
    clock = record["time"][11:23]
    arrow = "<" if record["direction"] == "in" else ">"
    data = record["data"] if record["type"] == "text" else f"<binary> {record['data']}"
    who = f" {record['device']}" if show_device else ""
    return f"{clock}{who} {arrow} {data}"


def error_result(device: str, exc: WsctlError, elapsed: float) -> dict[str, Any]:
    from wsctl.cli.support.errors import error_object

    return {
        "device": device,
        "ok": False,
        "elapsed": round(elapsed, 4),
        **error_object(exc.exit_code, exc.cause, exc.message),
    }


def decode_item(item) -> dict:
    """Extra keys for a message read through a session (stable: event, kind, payload).

    Shared by watch, connect and the events beside replies in send/run;
    `fields_text` is for terminals only and is dropped from JSON.  Every
    `CodecEvent` type has its branch: a new one is a TypeError here (and a
    failing test), never a message rendered as nothing."""
    from wsctl.core.profile.events import DeviceRequest, Malformed, Received, Reply, Telemetry, Unmatched

    if isinstance(item, Received):
        return {}  # no profile: the message itself (type, data) is all there is
    if isinstance(item, Telemetry):
        from wsctl.core.profile.fields import decode_fields

        payload = decode_fields(item.event, item.payload)
        out = {"event": item.name, "kind": "telemetry", "payload": payload}
        if item.event is not None and isinstance(payload, dict) and item.event.fields:
            units = {f.name: f.unit for f in item.event.fields if f.unit}
            out["fields_text"] = " ".join(f"{k}={v}{' ' + units[k] if k in units else ''}" for k, v in payload.items())
        return out
    if isinstance(item, DeviceRequest):
        return {"event": item.name, "kind": "request", "payload": item.payload, "answered": item.answer is not None}
    if isinstance(item, Reply):
        return {"event": item.command.key, "kind": "reply", "payload": item.payload}
    if isinstance(item, (Unmatched, Malformed)):
        raw = item.raw if isinstance(item.raw, str) else f"<binary {len(item.raw)} bytes>"
        return {
            "event": "unrecognised",
            "kind": "unrecognised",
            "payload": None,
            "reason": item.reason,
            "fields_text": f"({item.reason}) {raw[:200]}",
        }
    raise TypeError(f"no rendering for {type(item).__name__}")


def event_record(device: str, item) -> dict[str, Any]:
    """The message record of a session event, with what its profile decoded
    (``fields_text`` included: `event_line` uses it, JSON output drops it)."""
    return {**message_record(device, item.raw), **decode_item(item)}


def event_line(record: dict[str, Any], *, show_device: bool, prefix: str | None = None) -> str:
    """One line per event on a terminal: ``12:00:01.234 plc-17 < status speed=1200 mm/s``.

    A message without a profile is `message_line`; `prefix` replaces the clock
    and device (``-- plc-17`` beside the result lines of send and run)."""
    if "event" not in record:
        return message_line(record, show_device=show_device)
    if record.get("fields_text"):
        body = record["fields_text"]
    elif record.get("payload") is not None:
        import json  # here, not at the top: start-up of one-shot verbs

        body = json.dumps(record["payload"], ensure_ascii=False, default=str)
    else:
        body = record.get("reason", "")
    if prefix is None:
        prefix = record["time"][11:23] + (f" {record['device']}" if show_device else "")
    return f"{prefix} < {record['event']} {body}".rstrip()


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 event``, ``2 events``: human lines never say "1 events"."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
