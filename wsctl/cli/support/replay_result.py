"""A replay's result, judged: the line `wsctl replay` prints for a device (JSON
and human) and the error it ends in.  One device's replay and a fleet's
(`replay_fleet`) judge alike."""

from __future__ import annotations

from typing import Any

from wsctl.cli.support.render import count


def _nearest_rank(ordered: list[float], q: float) -> float:
    """The Q quantile of sorted, non-empty ORDERED (the nearest rank)."""
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def judged(result, plan, no_compare: bool, mode: str) -> tuple[dict[str, Any], list[str], Any]:
    """A replay's result line (JSON and human) and the error it ends in, if any:
    ConnectionClosed (exit 10) when the device closed before the last send,
    DeviceError (7) when its answers differ."""
    from wsctl.core.errors import ConnectionClosed, DeviceError

    report = result.report
    # fast mode sends as soon as it can: there is no schedule to be on time for
    errors = [abs(e) for e in result.timing_errors()] if mode != "fast" else []
    timing: dict[str, float | None] = {"p50_ms": None, "p99_ms": None, "max_ms": None}
    if errors:
        ordered = sorted(errors)
        timing = {
            "p50_ms": round(_nearest_rank(ordered, 0.5) * 1000, 3),
            "p99_ms": round(_nearest_rank(ordered, 0.99) * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3),
        }
    ok = result.complete and (no_compare or report.ok)
    obj = {
        "event": "replay",
        "ok": ok,
        "sent": len(result.sent),
        "planned": len(plan.sends),
        "expected": report.expected,
        "received": report.received,
        "timing": timing,
        "compared": not no_compare,
        "differences": [] if no_compare else [d.as_dict() for d in report.differences],
    }
    if result.closed is not None:
        obj["closed"] = {"code": result.closed.code, "reason": result.closed.reason}
    human_lines = [] if no_compare else report.lines(context=plan.context())
    timing_text = f"; send timing p99 {timing['p99_ms']} ms" if timing["p99_ms"] is not None else ""
    human_lines.append(f"sent {len(result.sent)} of {count(len(plan.sends), 'message')}{timing_text}")
    error: Any = None
    if not result.complete:
        closed = result.closed
        code = f" with code {closed.code}" if closed is not None and closed.code is not None else ""
        error = ConnectionClosed(
            f"device closed the connection{code} after {len(result.sent)} of {len(plan.sends)} sends",
            code=closed.code if closed else None,
            reason=closed.reason if closed else "",
        )
    elif not no_compare and not report.ok:
        error = DeviceError(
            f"answers differ from the recording: {report.summary()}",
            hint="--ignore POINTER|re:REGEX for fields that always change",
        )
    return obj, human_lines, error


def long_gap_text(send: Any, seconds: float) -> str:
    """The warning before a long recorded gap (`wsctl.net.replayer.LONG_GAP`)."""
    return f"send {send.index + 1} is due in {seconds:.0f} s (a gap in the recording); --max-delay S caps every gap"
