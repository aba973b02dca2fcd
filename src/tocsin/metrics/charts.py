"""The monthly review's charts, drawn by matplotlib straight into SVG text.

matplotlib is imported on first use (it takes a while to load and only reports need
it) and drives no GUI: figures are plain :class:`~matplotlib.figure.Figure` objects
saved by the SVG backend, never pyplot. matplotlib is not thread-safe, so drawing is
serialised by a lock. Output is deterministic (fixed id salt, no date), so the same
data gives the same SVG; text stays text (``svg.fonttype: none``), which keeps the
files small and searchable.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["budget_burn_chart", "mttr_trend_chart", "severity_trend_chart"]

_LOCK = threading.Lock()
_READY = False
#: One colour per severity rank (worst first), then grey.
_SEVERITY_COLOURS = ("#c0392b", "#e67e22", "#f1c40f", "#95a5a6")
_SERIES_COLOURS = ("#2c7fb8", "#d95f0e", "#31a354", "#756bb1", "#636363", "#e7298a")


def _figure(title: str) -> tuple[Figure, Axes]:
    global _READY
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not _READY:
        matplotlib.rcParams.update(
            {"svg.fonttype": "none", "svg.hashsalt": "tocsin", "font.size": 9}
        )
        _READY = True
    figure = Figure(figsize=(7.0, 3.0), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure, axes


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Drop the XML prologue and DOCTYPE: the SVG goes inline into an HTML page.
    return text[text.index("<svg") :]


def severity_trend_chart(
    months: Sequence[str], counts: Mapping[str, Sequence[int]], severities: Sequence[str]
) -> str:
    """Stacked bars: incidents per month, by severity (worst at the bottom)."""
    with _LOCK:
        figure, axes = _figure("Incidents by severity")
        bottom = [0] * len(months)
        for index, severity in enumerate(severities):
            values = list(counts.get(severity, [0] * len(months)))
            colour = _SEVERITY_COLOURS[min(index, len(_SEVERITY_COLOURS) - 1)]
            axes.bar(months, values, bottom=bottom, label=severity, color=colour)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_ylabel("incidents")
        axes.legend(loc="upper left", frameon=False, ncols=max(1, len(severities)))
        return _svg(figure)


def mttr_trend_chart(
    months: Sequence[str], mean: Sequence[float | None], median: Sequence[float | None]
) -> str:
    """Lines: mean and median time to resolve per month, in minutes."""
    return _duration_trend("Time to resolve (detection to resolution)", months, mean, median)


def mtta_trend_chart(
    periods: Sequence[str], mean: Sequence[float | None], median: Sequence[float | None]
) -> str:
    """Lines: mean and median time to acknowledge per period, in minutes."""
    return _duration_trend(
        "Time to acknowledge (detection to acknowledgement)", periods, mean, median
    )


def sla_compliance_chart(
    severities: Sequence[str],
    response: Sequence[float | None],
    resolution: Sequence[float | None],
) -> str:
    """Grouped bars: the share of incidents that met the response and the resolution SLA,
    by severity, in % (a severity without measured incidents has no bar)."""
    with _LOCK:
        figure, axes = _figure("SLA compliance")
        positions = range(len(severities))
        for offset, label, rates, colour in (
            (-0.2, "response", response, _SERIES_COLOURS[0]),
            (0.2, "resolution", resolution, _SERIES_COLOURS[1]),
        ):
            values = [float("nan") if r is None else 100 * r for r in rates]
            axes.bar([p + offset for p in positions], values, width=0.4, label=label, color=colour)
        axes.set_xticks(list(positions), labels=list(severities))
        axes.set_ylabel("% within target")
        axes.set_ylim(0, 105)
        axes.legend(loc="lower left", frameon=False)
        return _svg(figure)


def _duration_trend(
    title: str, periods: Sequence[str], mean: Sequence[float | None], median: Sequence[float | None]
) -> str:
    months = periods
    with _LOCK:
        figure, axes = _figure(title)
        for label, values, colour in (
            ("mean", mean, _SERIES_COLOURS[0]),
            ("median", median, _SERIES_COLOURS[1]),
        ):
            minutes = [float("nan") if v is None else v / 60 for v in values]
            axes.plot(range(len(months)), minutes, marker="o", label=label, color=colour)
        # Positions, not categories: a month without resolved incidents keeps its place.
        axes.set_xticks(range(len(months)), labels=list(months))
        axes.set_xlim(-0.5, len(months) - 0.5)
        axes.set_ylabel("minutes")
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", frameon=False)
        return _svg(figure)


def budget_burn_chart(days: Sequence[datetime], consumed: Mapping[str, Sequence[float]]) -> str:
    """Lines: share of each service's error budget spent (rolling window) by day."""
    with _LOCK:
        figure, axes = _figure("Error budget spent (rolling SLO window)")
        # Each point is the end of a day: label it with the day that just ended.
        labels = [(d - timedelta(microseconds=1)).strftime("%d") for d in days]
        for index, (service, values) in enumerate(sorted(consumed.items())):
            colour = _SERIES_COLOURS[index % len(_SERIES_COLOURS)]
            axes.plot(range(len(days)), list(values), label=service, color=colour)
        axes.set_xticks(range(len(days)), labels=labels)
        axes.axhline(100, color="#c0392b", linestyle="--", linewidth=1, label="budget")
        axes.set_ylabel("% of budget")
        axes.set_xlabel("day of month")
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", frameon=False)
        if len(labels) > 16:
            for index, tick in enumerate(axes.get_xticklabels()):
                tick.set_visible(index % 2 == 0)
        return _svg(figure)
