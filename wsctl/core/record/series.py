"""Telemetry series out of a recording, for plots (`wsctl record plot`).

Pure: recording events in, numeric series and markers out.  A field is named
as the profile decodes it (`motor_temp`, `speed`: the telemetry event's fields,
with their units) or by a JSON pointer into the message (`/params/load`).  Gaps
(a reconnect wait), closes and re-opens become markers, so a plot shows where
the data stops because the connection did, not because the value did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import InvalidInput


@dataclass
class Series:
    """One field over time: seconds since the recording started, and the value."""

    name: str
    unit: str | None = None
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Marker:
    t: float
    kind: str  # "gap", "close", "open"
    label: str
    length: float = 0.0  # seconds, for gaps


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _pointer_value(data: str | bytes, pointer: str) -> Any:
    from wsctl.core.pointer import resolve

    if not isinstance(data, str):
        return None
    try:
        return resolve(json.loads(data), pointer)
    except (ValueError, RecursionError, KeyError, IndexError, TypeError):
        return None


def _telemetry(codec: Any, data: str | bytes, t: float) -> dict[str, Any]:
    """The decoded fields of a telemetry message, {} for anything else."""
    from wsctl.core.profile.events import Telemetry
    from wsctl.core.profile.fields import decode_fields

    out: dict[str, Any] = {}
    for item in codec.feed(data, now=t):
        if isinstance(item, Telemetry):
            payload = decode_fields(item.event, item.payload)
            if isinstance(payload, dict):
                out.update(payload)
    return out


def _units(profile: Any) -> dict[str, str]:
    if profile is None:
        return {}
    return {f.name: f.unit for event in profile.events.values() for f in event.fields if f.unit}


def extract(
    events: Iterable[Any],
    fields: tuple[str, ...],
    *,
    profile: Any = None,
    conn: int | None = None,
    start: float | None = None,
    end: float | None = None,
) -> tuple[list[Series], list[Marker]]:
    """Series for ``fields`` (all numeric telemetry fields when empty) and markers.

    ``start``/``end`` bound the time window (seconds since the recording began);
    ``conn`` keeps one connection.  Field names need a profile; pointers do not.
    """
    if any(not f.startswith("/") for f in fields) and profile is None:
        raise InvalidInput(
            "field names come from a profile: give --profile (or name fields by JSON pointer, e.g. /params/speed)"
        )
    codec = None
    if profile is not None:
        from wsctl.core.profile.codec import ClientCodec

        codec = ClientCodec(profile)
    units = _units(profile)
    series: dict[str, Series] = {name: Series(name, units.get(name)) for name in fields}
    markers: list[Marker] = []
    for event in events:
        if conn is not None and event.conn != conn:
            continue
        if (start is not None and event.t < start) or (end is not None and event.t > end):
            continue
        if event.kind == "gap":
            markers.append(Marker(event.t, "gap", f"gap: {event.error or 'connection lost'}", event.delay or 0.0))
        elif event.kind == "close":
            markers.append(Marker(event.t, "close", f"close {event.code or '-'}"))
        elif event.kind == "open" and markers:
            markers.append(Marker(event.t, "open", f"connection #{event.conn}"))
        if not (event.is_message and event.dir == "in" and event.data is not None):
            continue
        decoded = _telemetry(codec, event.data, event.t) if codec is not None else {}
        wanted = fields or tuple(k for k, v in decoded.items() if _number(v) is not None)
        for name in wanted:
            value = _number(_pointer_value(event.data, name) if name.startswith("/") else decoded.get(name))
            if value is None:
                continue
            target = series.setdefault(name, Series(name, units.get(name)))
            target.times.append(event.t)
            target.values.append(value)
    return [s for s in series.values() if fields or s.times], markers
