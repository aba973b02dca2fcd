"""The charts of the metrics page and the monthly review, drawn by matplotlib straight
into SVG text.

matplotlib is imported on first use (it takes a while to load and only charts need it)
and drives no GUI: figures are plain :class:`~matplotlib.figure.Figure` objects saved by
the SVG backend, never pyplot. matplotlib is not thread-safe, so drawing is serialised
by a lock. Output is deterministic (fixed id salt, no date), so the same data gives the
same SVG, and the last charts drawn are kept: asking again for a chart of the same data
costs a dictionary look-up, not a drawing. Text stays text (``svg.fonttype: none``),
which keeps the files small and searchable.

Sizes: a chart is drawn :attr:`ChartSize.wide` (540 px) or :attr:`ChartSize.narrow`
(300 px, for phones) with its text at least 12 px (11 px for tick labels) at that size,
so it reads shown at its own width. Durations are plotted in the unit that suits the
largest value (seconds, minutes, hours or days), never as "0.032 minutes".
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, ParamSpec

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ChartSize",
    "budget_burn_chart",
    "duration_unit",
    "mtta_trend_chart",
    "mttr_trend_chart",
    "severity_trend_chart",
    "sla_compliance_chart",
]

P = ParamSpec("P")
_LOCK = threading.Lock()
_READY = False
#: One colour per severity rank (worst first), then grey.
_SEVERITY_COLOURS = ("#c0392b", "#e67e22", "#f1c40f", "#95a5a6")
_SERIES_COLOURS = ("#2c7fb8", "#d95f0e", "#31a354", "#756bb1", "#636363", "#e7298a")
#: Charts kept, by what they show (a few dozen KB each).
_KEPT = 64
_kept: OrderedDict[str, str] = OrderedDict()


class ChartSize(StrEnum):
    wide = "wide"
    narrow = "narrow"


@dataclass(frozen=True)
class _Frame:
    width: float
    height: float
    title: float
    #: At most this many labelled ticks on the x axis.
    max_labels: int


#: Text sizes in px at the chart's own width (matplotlib's SVG unit is the point, at
#: 72 an inch, shown as 1 px).
_FONT = 12
_TICKS = 11
#: Width and height in px.
_FRAMES = {
    ChartSize.wide: _Frame(540, 238, 13, 14),
    ChartSize.narrow: _Frame(300, 215, 12, 4),
}

_UNITS = ((86_400.0, "days"), (3_600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))


def duration_unit(values: Sequence[float | None]) -> tuple[float, str]:
    """The unit to plot these seconds in: the largest in which the biggest value is at
    least 2 (``90 s`` in seconds, ``3 h`` in hours, ``2.5 days`` in days)."""
    top = max((v for v in values if v is not None), default=0.0)
    for size, name in _UNITS:
        if top >= 2 * size:
            return size, name
    return 1.0, "seconds"


def _kept_chart(draw: Callable[P, str]) -> Callable[P, str]:
    """Keep the last :data:`_KEPT` charts drawn, by function and arguments."""

    def cached(*args: P.args, **kwargs: P.kwargs) -> str:
        key = draw.__name__ + json.dumps([args, kwargs], default=str, sort_keys=True)
        with _LOCK:
            svg = _kept.get(key)
            if svg is not None:
                _kept.move_to_end(key)
                return svg
            svg = draw(*args, **kwargs)
            _kept[key] = svg
            while len(_kept) > _KEPT:
                _kept.popitem(last=False)
            return svg

    cached.__name__ = draw.__name__
    cached.__doc__ = draw.__doc__
    return cached


def _figure(title: str, size: ChartSize, *, counts: bool = False) -> tuple[Figure, Axes]:
    """A figure with one plot; ``counts``: whole numbers on the y axis."""
    global _READY
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not _READY:
        matplotlib.rcParams.update(
            {
                "svg.fonttype": "none",
                "svg.hashsalt": "tocsin",
                "font.size": _FONT,
                "axes.labelsize": _FONT,
                "xtick.labelsize": _TICKS,
                "ytick.labelsize": _TICKS,
                "legend.fontsize": _TICKS,
            }
        )
        _READY = True
    frame = _FRAMES[size]
    # Constrained layout: room for the legend under the plot, whatever the labels' size.
    figure = Figure(figsize=(frame.width / 72, frame.height / 72), dpi=72, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=frame.title)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=counts))
    return figure, axes


def _x_labels(axes: Axes, labels: Sequence[str], size: ChartSize) -> None:
    """Every label if they fit, else every n-th (the others' ticks stay)."""
    axes.set_xticks(range(len(labels)), labels=list(labels))
    step = -(-len(labels) // _FRAMES[size].max_labels) if labels else 1
    for index, tick in enumerate(axes.get_xticklabels()):
        tick.set_visible(index % step == 0)


def _legend(figure: Figure, entries: int) -> None:
    """Under the plot, on one line: never over the data."""
    figure.legend(loc="outside lower center", frameon=False, ncols=max(entries, 1))


def _nothing(axes: Axes, text: str) -> None:
    """An empty chart says so (and shows no scale)."""
    axes.set_yticks([])
    axes.text(
        0.5,
        0.5,
        text,
        transform=axes.transAxes,
        ha="center",
        va="center",
        color="#57606a",
        fontsize=_FONT,
    )


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Drop the XML prologue and DOCTYPE: the SVG may go inline into an HTML page.
    return text[text.index("<svg") :]


@_kept_chart
def severity_trend_chart(
    periods: Sequence[str],
    counts: Mapping[str, Sequence[int]],
    severities: Sequence[str],
    size: ChartSize = ChartSize.wide,
) -> str:
    """Stacked bars: incidents per period, by severity (worst at the bottom)."""
    figure, axes = _figure("Incidents by severity", size, counts=True)
    bottom = [0] * len(periods)
    positions = range(len(periods))
    for index, severity in enumerate(severities):
        values = list(counts.get(severity, [0] * len(periods)))
        colour = _SEVERITY_COLOURS[min(index, len(_SEVERITY_COLOURS) - 1)]
        axes.bar(positions, values, bottom=bottom, label=severity, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _x_labels(axes, periods, size)
    axes.set_ylabel("incidents")
    if not any(bottom):
        axes.set_ylim(0, 1)
        _nothing(axes, "No incidents")
    _legend(figure, len(severities))
    return _svg(figure)


def mttr_trend_chart(
    periods: Sequence[str],
    mean: Sequence[float | None],
    median: Sequence[float | None],
    size: ChartSize = ChartSize.wide,
) -> str:
    """Lines: mean and median time to resolve (detection to resolution) per period."""
    title = "Time to resolve"
    return _duration_trend(title, list(periods), list(mean), list(median), size)


def mtta_trend_chart(
    periods: Sequence[str],
    mean: Sequence[float | None],
    median: Sequence[float | None],
    size: ChartSize = ChartSize.wide,
) -> str:
    """Lines: mean and median time to acknowledge (detection to acknowledgement) per
    period."""
    title = "Time to acknowledge"
    return _duration_trend(title, list(periods), list(mean), list(median), size)


@_kept_chart
def sla_compliance_chart(
    severities: Sequence[str],
    response: Sequence[float | None],
    resolution: Sequence[float | None],
    size: ChartSize = ChartSize.wide,
) -> str:
    """Grouped bars: the share of incidents that met the response and the resolution SLA,
    by severity, in % (a severity without measured incidents has no bar)."""
    figure, axes = _figure("SLA compliance", size, counts=True)
    positions = range(len(severities))
    for offset, label, rates, colour in (
        (-0.2, "response", response, _SERIES_COLOURS[0]),
        (0.2, "resolution", resolution, _SERIES_COLOURS[1]),
    ):
        values = [float("nan") if r is None else 100 * r for r in rates]
        axes.bar([p + offset for p in positions], values, width=0.4, label=label, color=colour)
    _x_labels(axes, severities, size)
    axes.set_xlim(-0.6, len(severities) - 0.4)  # every severity keeps its place
    axes.set_ylabel("% within target")
    axes.set_ylim(0, 105)
    if all(r is None for r in (*response, *resolution)):
        _nothing(axes, "No incidents measured")
    _legend(figure, 2)
    return _svg(figure)


@_kept_chart
def _duration_trend(
    title: str,
    periods: list[str],
    mean: list[float | None],
    median: list[float | None],
    size: ChartSize,
) -> str:
    unit, unit_name = duration_unit([*mean, *median])
    figure, axes = _figure(title, size)
    for label, values, colour in (
        ("mean", mean, _SERIES_COLOURS[0]),
        ("median", median, _SERIES_COLOURS[1]),
    ):
        shown = [float("nan") if v is None else v / unit for v in values]
        axes.plot(range(len(periods)), shown, marker="o", label=label, color=colour)
    # Positions, not categories: a period without resolved incidents keeps its place.
    _x_labels(axes, periods, size)
    axes.set_xlim(-0.5, len(periods) - 0.5)
    axes.set_ylabel(unit_name)
    axes.set_ylim(bottom=0)
    if all(v is None for v in (*mean, *median)):
        axes.set_ylim(0, 1)
        _nothing(axes, "Nothing measured yet")
    _legend(figure, 2)
    return _svg(figure)


@_kept_chart
def budget_burn_chart(
    days: Sequence[datetime],
    consumed: Mapping[str, Sequence[float]],
    size: ChartSize = ChartSize.wide,
) -> str:
    """Lines: share of each service's error budget spent (rolling window) by day."""
    figure, axes = _figure("Error budget spent (rolling SLO window)", size)
    # Each point is the end of a day: label it with the day that just ended.
    labels = [str((d - timedelta(microseconds=1)).day) for d in days]
    for index, (service, values) in enumerate(sorted(consumed.items())):
        colour = _SERIES_COLOURS[index % len(_SERIES_COLOURS)]
        axes.plot(range(len(days)), list(values), label=service, color=colour)
    _x_labels(axes, labels, size)
    axes.axhline(100, color="#c0392b", linestyle="--", linewidth=1, label="budget")
    axes.set_ylabel("% of budget")
    axes.set_xlabel("day of month")
    axes.set_ylim(bottom=0)
    _legend(figure, len(consumed) + 1)
    return _svg(figure)
