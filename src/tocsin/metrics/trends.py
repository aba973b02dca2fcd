"""Figures per ISO week (Monday 00:00 UTC to the next Monday), for the dashboard's trend.

The weeks are the same as the per-week counts of the summary
(:func:`tocsin.metrics.rules.by_period`): each holds the incidents detected in it and
inside the window, so the first and the current week count only their part of the
window. Drills are left out, as everywhere in metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.metrics.rules import Measure, Stats, measure_stats, week_label, week_start
from tocsin.metrics.table import IncidentTable

__all__ = ["WeekTrend", "weekly_trend"]


@dataclass(frozen=True)
class WeekTrend:
    start: datetime
    """Monday 00:00 UTC."""
    counts: dict[str, int]
    mtta: Stats
    mttr: Stats

    @property
    def label(self) -> str:
        """``2025-W49, Dec 1``."""
        return f"{week_label(self.start)}, {self.short_label}"

    @property
    def short_label(self) -> str:
        """``Dec 1``: the Monday."""
        return f"{self.start:%b} {self.start.day}"


def weekly_trend(
    table: IncidentTable, *, severities: list[str], since: datetime, until: datetime
) -> list[WeekTrend]:
    """One entry per ISO week overlapping [since, until), oldest first."""
    real = table.where(~table.drill)
    weeks = []
    start = week_start(since)
    while start < until:
        end = start + timedelta(weeks=1)
        low, high = max(start, since), min(end, until)
        chunk = real.where(real.detected_between(low.timestamp(), high.timestamp()))
        per = {name: int(mask.sum()) for name, mask in chunk.by_severity().items()}
        weeks.append(
            WeekTrend(
                start=start,
                counts={name: per.get(name, 0) for name in severities},
                mtta=measure_stats(chunk, Measure.mtta).overall,
                mttr=measure_stats(chunk, Measure.mttr).overall,
            )
        )
        start = end
    return weeks
