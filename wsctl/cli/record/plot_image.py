"""Drawing series and markers: matplotlib for images, plotext for terminals.

The libraries are passed in (imported by the verb, lazily); the figure is
returned too, so tests can look at what was drawn, not only at the file.
"""

from __future__ import annotations

from typing import Any


def _groups(series: list[Any]) -> dict[str, list[Any]]:
    """Series by unit: one axis per unit, so °C and mm/s are not drawn on one scale."""
    groups: dict[str, list[Any]] = {}
    for s in series:
        groups.setdefault(s.unit or "", []).append(s)
    return groups


def figure(matplotlib: Any, series: list[Any], markers: list[Any], *, width: int, height: int, title: str) -> Any:
    matplotlib.use("Agg")  # no display: files only
    from matplotlib.figure import Figure

    groups = _groups(series)
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (unit, members) in zip(axes, groups.items(), strict=True):
        for s in members:
            ax.plot(s.times, s.values, label=s.name, linewidth=1.2)
        ax.set_ylabel(unit or "value")
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(True, alpha=0.3)
        for m in markers:
            if m.kind == "gap":
                ax.axvspan(m.t, m.t + max(m.length, 0.01), color="tab:red", alpha=0.15)
            elif m.kind == "close":
                ax.axvline(m.t, color="tab:red", linestyle="--", linewidth=0.8)
    axes[-1].set_xlabel("seconds since the recording started")
    axes[0].set_title(title)
    fig.tight_layout()
    return fig


def write_image(
    matplotlib: Any, series: list[Any], markers: list[Any], path: str, *, width: int, height: int, title: str
) -> Any:
    fig = figure(matplotlib, series, markers, width=width, height=height, title=title)
    fig.savefig(path, dpi=100)
    return fig


def draw_terminal(plotext: Any, series: list[Any], markers: list[Any], *, title: str) -> str:
    plotext.clear_figure()
    plotext.theme("clear")
    for s in series:
        plotext.plot(s.times, s.values, label=f"{s.name} ({s.unit})" if s.unit else s.name)
    for m in markers:
        if m.kind in ("gap", "close"):
            plotext.vline(m.t, "red")
    plotext.title(title)
    plotext.xlabel("seconds since the recording started")
    return plotext.build()
