"""`wsctl watch --plot FIELD ...`: telemetry drawn live in the terminal.

The frame is redrawn at most every `INTERVAL` seconds (a 20 Hz device must not
redraw the terminal 20 times a second) from a bounded window of the latest
points, on the terminal's alternate screen with the cursor hidden; `close`
restores both however the watch ends (count, duration, Ctrl-C), so the shell
gets its screen back as it was.
"""

from __future__ import annotations

import json
from collections import deque
from typing import IO, Any

#: seconds between redraws, and points kept per field
INTERVAL = 0.5
WINDOW = 600

_ENTER = "\x1b[?1049h\x1b[?25l"  # alternate screen, cursor hidden
_LEAVE = "\x1b[?25h\x1b[?1049l"  # cursor shown, normal screen back
_HOME = "\x1b[H\x1b[2J"


def _value(record: dict[str, Any], field: str) -> float | None:
    if field.startswith("/"):
        from wsctl.core.pointer import resolve

        try:
            value = resolve(json.loads(record.get("data") or ""), field)
        except (ValueError, RecursionError, KeyError, IndexError, TypeError):
            return None
    else:
        payload = record.get("payload")
        value = payload.get(field) if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class LivePlot:
    def __init__(self, plotext: Any, out: IO[str], fields: tuple[str, ...], units: dict[str, str], title: str) -> None:
        self.plotext, self.out, self.fields, self.units, self.title = plotext, out, fields, units, title
        self.points: dict[str, deque[tuple[float, float]]] = {f: deque(maxlen=WINDOW) for f in fields}
        self.gaps: deque[float] = deque(maxlen=WINDOW)
        self.last_draw = float("-inf")
        self.out.write(_ENTER)
        self.out.flush()

    def add(self, record: dict[str, Any], t: float) -> None:
        for field, points in self.points.items():
            value = _value(record, field)
            if value is not None:
                points.append((t, value))
        self.maybe_draw(t)

    def gap(self, t: float) -> None:
        self.gaps.append(t)

    def maybe_draw(self, t: float) -> None:
        if t - self.last_draw >= INTERVAL:
            self.last_draw = t
            self.draw()

    def draw(self) -> None:
        plt = self.plotext
        plt.clear_figure()
        plt.theme("clear")
        for field, points in self.points.items():
            if points:
                unit = self.units.get(field)
                plt.plot([p[0] for p in points], [p[1] for p in points], label=f"{field} ({unit})" if unit else field)
        for t in self.gaps:
            plt.vline(t, "red")
        plt.title(self.title)
        plt.xlabel("seconds since the watch started")
        self.out.write(_HOME + plt.build() + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.write(_LEAVE)
        self.out.flush()
