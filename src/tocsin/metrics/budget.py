"""Availability, error budget and burn rate from incident impact windows (pure).

A service's *bad time* is the time its incidents had impact, weighted by severity
(1.0 = full outage, 0.5 = degraded ...). Where incidents overlap, the worst weight at
each instant counts, so two incidents at once do not count the same minute twice.
An impact runs from ``started_at`` (impact start; detection time if unknown) to
``resolved_at``, or to ``now`` while the incident is open.

For an objective O % over a window W (for example 99.9 % over 30 days):

- error budget     = (1 - O/100) · W                       (43.2 min)
- consumed         = bad time within [now - W, now)
- availability     = 100 · (1 - consumed / W)
- burn rate over w = (bad time within [now - w, now) / w) / (1 - O/100)
  — 1.0 spends exactly the budget over W; 14.4 over 1 h spends 2 % of a 30-day
  budget in that hour.

Burn-rate *crossings*: ``crossing_start`` finds when the burn rate last rose above a
threshold. The burn rate B(t) is continuous and piecewise linear in t (its slope changes
only where an impact starts or ends, or did so w earlier), so the instant is exact and
depends only on the incidents, not on when it is evaluated: evaluating every minute
finds the same crossing each time, which makes it a stable deduplication key.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "BadTime",
    "BurnRate",
    "Impact",
    "Segment",
    "SloStatus",
    "bad_seconds",
    "burn_rate",
    "crossing_start",
    "driving",
    "merge_impacts",
    "slo_status",
]


@dataclass(frozen=True, slots=True)
class Impact:
    """One incident's impact on one service."""

    incident_id: int
    number: int
    start: datetime
    end: datetime | None  # None while the incident is open
    weight: float


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of bad time: epoch seconds [start, end), at ``weight``."""

    start: float
    end: float
    weight: float


def merge_impacts(impacts: Iterable[Impact], *, now: datetime) -> list[Segment]:
    """Non-overlapping segments, each at the highest weight of the impacts covering it.

    Open impacts end at ``now``; impacts starting after ``now`` and zero weights are
    dropped.
    """
    limit = now.timestamp()
    edges: list[tuple[float, int, float]] = []
    for impact in impacts:
        start = impact.start.timestamp()
        end = min(impact.end.timestamp() if impact.end else limit, limit)
        if impact.weight > 0 and end > start:
            edges += [(start, 1, impact.weight), (end, -1, impact.weight)]
    edges.sort()
    active: Counter[float] = Counter()
    segments: list[Segment] = []
    previous: float | None = None
    for at, step, weight in edges:
        if previous is not None and at > previous and active:
            level = max(active)
            last = segments[-1] if segments else None
            if last is not None and last.end == previous and last.weight == level:
                segments[-1] = Segment(last.start, at, level)
            else:
                segments.append(Segment(previous, at, level))
        active[weight] += step
        if active[weight] == 0:
            del active[weight]
        previous = at
    return segments


class BadTime:
    """Cumulative bad time over merged segments: any interval in O(log n).

    ``integral(x)`` is the weighted bad time before ``x``, from prefix sums; the sum
    over the segments before ``x`` does not depend on the segments after it, so the
    same instant gives the same float in every evaluation (crossing keys rely on it).
    """

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = list(segments)
        self.starts = [s.start for s in self.segments]
        self.before: list[float] = []
        total = 0.0
        for s in self.segments:
            self.before.append(total)
            total += s.weight * (s.end - s.start)

    def integral(self, x: float) -> float:
        k = bisect_right(self.starts, x) - 1
        if k < 0:
            return 0.0
        s = self.segments[k]
        return self.before[k] + s.weight * (min(x, s.end) - s.start)

    def between(self, since: float, until: float) -> float:
        """Weighted bad time within [since, until), in seconds."""
        return self.integral(until) - self.integral(since) if until > since else 0.0

    def level(self, at: float) -> float:
        """The weight in force just after ``at``."""
        k = bisect_right(self.starts, at) - 1
        return self.segments[k].weight if k >= 0 and at < self.segments[k].end else 0.0


def bad_seconds(segments: Sequence[Segment], since: float, until: float) -> float:
    """Weighted bad time within [since, until), in seconds."""
    return BadTime(segments).between(since, until)


def burn_rate(bad: BadTime, *, at: float, window: float, allowed: float) -> float:
    """Budget burn rate over [at - window, at); ``allowed`` = 1 - objective/100."""
    return bad.between(at - window, at) / (window * allowed)


def crossing_start(
    bad: BadTime,
    *,
    now: float,
    window: float,
    allowed: float,
    threshold: float,
    horizon: float,
) -> float | None:
    """When the burn rate last rose above ``threshold`` (epoch seconds, whole), given
    that it is above it at ``now``; None if it has been above it since before
    ``horizon + window`` (the segments only describe time from ``horizon`` on)."""
    lowest = horizon + window
    points = {now, lowest}
    for s in bad.segments:
        points.update((s.start, s.end, s.start + window, s.end + window))
    candidates = sorted((p for p in points if lowest <= p < now), reverse=True)
    upper = now
    for point in candidates:
        rate = burn_rate(bad, at=point, window=window, allowed=allowed)
        if rate <= threshold:
            middle = (point + upper) / 2
            slope = (bad.level(middle) - bad.level(middle - window)) / (window * allowed)
            if slope <= 0:  # cannot happen for a rise; be safe with float edges
                return float(math.floor(upper))
            return float(math.floor(point + (threshold - rate) / slope))
        upper = point
    return None


@dataclass(frozen=True, slots=True)
class BurnRate:
    window_seconds: float
    threshold: float
    rate: float
    #: Above the threshold now.
    alerting: bool
    #: When the current rise above the threshold began (None when not alerting, or
    #: when it began before the time looked at).
    since: datetime | None


@dataclass(frozen=True, slots=True)
class SloStatus:
    service: str
    objective: float
    window_seconds: float
    budget_seconds: float
    consumed_seconds: float
    remaining_seconds: float
    #: Share of the budget left, in percent; negative once overspent.
    remaining_percent: float
    availability_percent: float
    burn_rates: list[BurnRate]
    #: Numbers of the incidents with impact inside the window, oldest first.
    incidents: list[int]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def slo_status(
    *,
    service: str,
    objective: float,
    window: timedelta,
    alerts: Sequence[tuple[timedelta, float]],
    impacts: Sequence[Impact],
    now: datetime,
    horizon: datetime | None = None,
) -> SloStatus:
    """The budget of one objective at ``now``; ``alerts`` are (window, threshold) pairs.

    ``horizon``: the earliest instant ``impacts`` are complete from (default: the
    start of the objective's window, which is enough for everything but crossings).
    """
    allowed = 1 - objective / 100
    span = window.total_seconds()
    at = now.timestamp()
    bad = BadTime(merge_impacts(impacts, now=now))
    since = at - span
    consumed = bad.between(since, at)
    budget = span * allowed
    start = (horizon or now - window).timestamp()
    burns: list[BurnRate] = []
    for alert_window, threshold in alerts:
        seconds = alert_window.total_seconds()
        rate = burn_rate(bad, at=at, window=seconds, allowed=allowed)
        began = None
        if rate > threshold:
            found = crossing_start(
                bad,
                now=at,
                window=seconds,
                allowed=allowed,
                threshold=threshold,
                horizon=start,
            )
            began = None if found is None else _utc(found)
        burns.append(BurnRate(seconds, threshold, rate, rate > threshold, began))
    inside = sorted(
        (i for i in impacts if i.weight > 0 and _overlaps(i, since, at)),
        key=lambda i: (i.start, i.number),
    )
    return SloStatus(
        service=service,
        objective=objective,
        window_seconds=span,
        budget_seconds=budget,
        consumed_seconds=consumed,
        remaining_seconds=budget - consumed,
        remaining_percent=100 * (budget - consumed) / budget,
        availability_percent=100 * (1 - consumed / span),
        burn_rates=burns,
        incidents=list(dict.fromkeys(i.number for i in inside)),
    )


def _overlaps(impact: Impact, since: float, until: float) -> bool:
    start = impact.start.timestamp()
    end = impact.end.timestamp() if impact.end else until
    return start < until and end > since


def driving(impacts: Sequence[Impact], *, now: datetime, window: timedelta) -> list[Impact]:
    """The impacts that spend budget within the last ``window``: the incidents behind
    a burn-rate alert."""
    at = now.timestamp()
    since = at - window.total_seconds()
    return [i for i in impacts if i.weight > 0 and _overlaps(i, since, at)]
