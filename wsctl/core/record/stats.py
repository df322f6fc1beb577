"""Statistics of a recording (`wsctl record show --stats`, the demo): one pass,
constant memory, so a recording of millions of events is summarised as it streams."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wsctl.core.record.format import Event


def summarize(events: Iterable[Event], *, conn: int | None = None) -> dict[str, Any]:
    counts: dict[str, int] = {}
    sizes = {"out": 0, "in": 0}
    messages = {"out": 0, "in": 0}
    closes: dict[str, int] = {}
    conns: set[int] = set()
    gaps, gap_time, errors = 0, 0.0, 0
    first = last = None
    for event in events:
        if conn is not None and event.conn != conn:
            continue
        first = event.t if first is None else first
        last = event.t
        conns.add(event.conn)
        key = f"{event.dir}/{event.kind}" if event.dir else event.kind
        counts[key] = counts.get(key, 0) + 1
        if event.is_message and event.dir is not None:
            messages[event.dir] += 1
            sizes[event.dir] += event.size
        elif event.kind == "close":
            closes[str(event.code)] = closes.get(str(event.code), 0) + 1
        elif event.kind == "gap":
            gaps += 1
            gap_time += event.delay or 0.0
        elif event.kind == "error":
            errors += 1
    duration = (last - first) if first is not None and last is not None else 0.0
    rate = {d: round(messages[d] / duration, 3) if duration > 0 else None for d in messages}
    return {
        "duration": round(duration, 6),
        "connections": len(conns),
        "messages": messages,
        "bytes": sizes,
        "rate_per_s": rate,
        "by_kind": counts,
        "gaps": gaps,
        "gap_seconds": round(gap_time, 3),
        "errors": errors,
        "close_codes": closes,
    }
