"""Reliability metrics as pure functions over plain incident records.

No database, no clock: :class:`IncidentFacts` records (or the same facts as columns, an
:class:`~tocsin.metrics.table.IncidentTable`) carry what the metrics need; ``now`` and
the window are arguments. The summary covers the incidents *detected* in the window
``[now - window, now)``; drills (incidents declared as drills) are left out.

The four response measures, each in seconds, and why each starts where it does:

==========  =========================  =================================================
measure     from → to                  why
==========  =========================  =================================================
MTTD        started_at → detected_at   detection is measured from when impact began
MTTA        detected_at → acknowledged the responders can only react once it is detected
MTTM        detected_at → mitigated    (as above; mitigated = monitoring or resolved)
MTTR        detected_at → resolved_at  the KPI: "time from detection
                                       to resolution"; it is what the on-call process
                                       controls. Impact time (started → resolved) is what
                                       the error budget counts instead.
==========  =========================  =================================================

An incident still open has no time to acknowledge / mitigate / resolve yet and is left
out of those samples (it shows in ``open`` and in SLA compliance once overdue). A
negative duration (an impact start entered a little after detection) counts as 0.

Statistics: ``mean``; ``median`` and ``p90`` are nearest-rank percentiles, the value at
rank ⌈p/100 · n⌉ of the sorted sample (1-based), so they are always observed values —
for an even count the median is the lower of the two middle values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import chain

import numpy as np

from tocsin.metrics.records import (
    DRILL_TAG,
    REPEAT_WITHIN,
    SIMILAR_TITLE,
    SLACK,
    ActionItemFacts,
    IncidentFacts,
    PostmortemInputs,
    SlaTarget,
    span,
)
from tocsin.metrics.repeats import repeat_incidents, similar, title_tokens
from tocsin.metrics.table import BoolArray, FloatArray, IncidentTable
from tocsin.timetext import duration_text

__all__ = [
    "DRILL_TAG",
    "REPEAT_WITHIN",
    "SIMILAR_TITLE",
    "SLACK",
    "ActionItemFacts",
    "Compliance",
    "IncidentFacts",
    "IncidentTable",
    "Measure",
    "MeasureStats",
    "MetricsSummary",
    "Period",
    "PeriodCount",
    "PostmortemInputs",
    "Rate",
    "SlaReport",
    "SlaTarget",
    "Stats",
    "by_period",
    "compliance",
    "escalation_rate",
    "format_seconds",
    "measure_stats",
    "percentile",
    "repeat_incidents",
    "similar",
    "sla_report",
    "span",
    "stats",
    "summarize",
    "title_tokens",
    "week_label",
    "week_start",
]


def _table(incidents: Sequence[IncidentFacts] | IncidentTable) -> IncidentTable:
    if isinstance(incidents, IncidentTable):
        return incidents
    return IncidentTable.from_facts(incidents)


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Stats:
    """Seconds. ``None`` when the sample is empty."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None


def _rank(p: int, n: int) -> int:
    """The nearest rank ⌈p·n/100⌉ (1-based), in integers: no float rounding at the edges."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    return -(-p * n // 100)


def percentile(ordered: Sequence[float], p: int) -> float | None:
    """Nearest-rank percentile of an ascending sample: the value at rank ⌈p·n/100⌉."""
    if not ordered:
        return None
    return ordered[_rank(p, len(ordered)) - 1]


def _ms(value: float) -> float:
    return round(value, 3)


def _array_stats(sample: FloatArray) -> Stats:
    """Statistics of a sample in any order, rounded to the millisecond (numpy selects
    the two ranks in linear time)."""
    n = int(sample.size)
    if not n:
        return Stats(0, None, None, None)
    median, p90 = _rank(50, n) - 1, _rank(90, n) - 1
    chosen = np.partition(sample, [median, p90])
    return Stats(
        count=n,
        mean=_ms(float(sample.mean())),
        median=_ms(float(chosen[median])),
        p90=_ms(float(chosen[p90])),
    )


def stats(values: Iterable[float]) -> Stats:
    return _array_stats(np.fromiter(values, dtype=np.float64))


class Measure(StrEnum):
    mttd = "mttd"
    mtta = "mtta"
    mttm = "mttm"
    mttr = "mttr"


def _durations(table: IncidentTable, measure: Measure) -> FloatArray:
    column: FloatArray = {
        Measure.mttd: table.to_detect,
        Measure.mtta: table.to_acknowledge,
        Measure.mttm: table.to_mitigate,
        Measure.mttr: table.to_resolve,
    }[measure]
    return column


@dataclass(frozen=True, slots=True)
class MeasureStats:
    overall: Stats
    by_severity: dict[str, Stats]


def measure_stats(
    incidents: Sequence[IncidentFacts] | IncidentTable, measure: Measure
) -> MeasureStats:
    """Overall and per-severity statistics of one measure; unknown durations (NaN)
    are left out."""
    table = _table(incidents)
    values = _durations(table, measure)
    known = ~np.isnan(values)
    return MeasureStats(
        _array_stats(values[known]),
        {name: _array_stats(values[mask & known]) for name, mask in table.by_severity().items()},
    )


# ---------------------------------------------------------------- SLA compliance


@dataclass(frozen=True, slots=True)
class Compliance:
    """``met`` / ``breached`` / ``pending`` (still within target); ``rate`` = met share
    of the decided ones, None when none is decided yet."""

    met: int
    breached: int
    pending: int
    rate: float | None


def compliance(met: int, breached: int, pending: int) -> Compliance:
    decided = met + breached
    return Compliance(met, breached, pending, met / decided if decided else None)


@dataclass(frozen=True, slots=True)
class SlaReport:
    overall: Compliance
    by_severity: dict[str, Compliance]


def _judge(took: FloatArray, detected: FloatArray, limit: float, now: float) -> Compliance:
    """Met: done within ``limit``; breached: done later, or not done and overdue;
    pending: not done and not overdue yet. ``took`` is NaN while not done."""
    done = ~np.isnan(took)
    met = int(np.count_nonzero(took[done] <= limit + SLACK))
    overdue = int(np.count_nonzero(now - detected[~done] > limit))
    breached = int(np.count_nonzero(done)) - met + overdue
    return compliance(met, breached, int(took.size) - met - breached)


def sla_report(
    incidents: Sequence[IncidentFacts] | IncidentTable,
    targets: Mapping[str, SlaTarget],
    now: datetime,
    *,
    response: bool,
) -> SlaReport:
    """Response (acknowledged within ``respond_within``) or resolution (resolved within
    ``resolve_target``) compliance per severity; severities without a target in the
    policy are left out."""
    table = _table(incidents)
    at = now.timestamp()
    took = table.to_acknowledge if response else table.to_resolve
    result: dict[str, Compliance] = {}
    for name, mask in table.by_severity().items():
        target = targets.get(name)
        if target is not None:
            limit = target.respond_within if response else target.resolve_target
            result[name] = _judge(took[mask], table.detected[mask], limit.total_seconds(), at)
    total = compliance(*(sum(getattr(c, k) for c in result.values()) for k in _TALLY))
    return SlaReport(total, result)


_TALLY = ("met", "breached", "pending")


# ---------------------------------------------------------------- counts and rates


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


_DAY = 86_400.0
_EPOCH = date(1970, 1, 1)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``moment``: every weekly figure (the
    CLI, the API, the dashboard's trend) uses these weeks."""
    return _midnight(_bucket(moment.astimezone(UTC).date(), Period.week))


def week_label(start: datetime) -> str:
    """``2025-W49``: the ISO year and week number of the week starting at ``start``."""
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def _bucket(day: date, period: Period) -> date:
    """The first day of the UTC day, ISO week (Monday) or month that holds ``day``."""
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    if period is Period.month:
        return day.replace(day=1)
    return day


def _next_bucket(start: date, period: Period) -> date:
    if period is Period.day:
        return start + timedelta(days=1)
    if period is Period.week:
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PeriodCount:
    start: datetime
    count: int
    by_severity: dict[str, int]


def by_period(
    incidents: Sequence[IncidentFacts] | IncidentTable,
    period: Period,
    since: datetime,
    until: datetime,
) -> list[PeriodCount]:
    """Incidents per UTC day / week / month, every bucket from ``since`` to ``until``
    listed (a quiet week shows as 0, not as a gap)."""
    table = _table(incidents)
    counts: dict[date, Counter[str]] = {}
    start = _bucket(since.astimezone(UTC).date(), period)
    while _midnight(start) < until:
        counts[start] = Counter()
        start = _next_bucket(start, period)
    days = np.floor_divide(table.detected, _DAY).astype(np.int64)
    for name, mask in table.by_severity().items():
        found, numbers = np.unique(days[mask], return_counts=True)
        for day, number in zip(found.tolist(), numbers.tolist(), strict=True):
            bucket = counts.get(_bucket(_EPOCH + timedelta(days=day), period))
            if bucket is not None:
                bucket[name] += number
    order = table.severity_names
    return [
        PeriodCount(_midnight(start), sum(c.values()), {s: c[s] for s in order if c[s]})
        for start, c in counts.items()
    ]


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` of ``total``; ``rate`` None when total is 0 or the input is not
    ``available`` (then the metric is "n/a")."""

    count: int
    total: int
    rate: float | None
    available: bool = True


def _rate(count: int, total: int) -> Rate:
    return Rate(count, total, count / total if total else None)


_NOT_AVAILABLE = Rate(0, 0, None, available=False)


def escalation_rate(incidents: Sequence[IncidentFacts] | IncidentTable) -> Rate:
    table = _table(incidents)
    return _rate(int(np.count_nonzero(table.escalated)), len(table))


def _postmortem_rate(ids: set[int], pm: PostmortemInputs | None) -> Rate:
    if pm is None:
        return _NOT_AVAILABLE
    required = pm.required & ids
    return _rate(len(required & pm.completed), len(required))


def _action_item_rate(ids: set[int], pm: PostmortemInputs | None, now: datetime) -> Rate:
    """Items done by their due date, of the items that are done or due by now (an item
    not due yet and still open is undecided and left out)."""
    if pm is None:
        return _NOT_AVAILABLE
    on_time = decided = 0
    for item in pm.action_items:
        if item.incident_id not in ids or item.due_at is None:
            continue
        if item.completed_at is not None:
            decided += 1
            on_time += item.completed_at <= item.due_at
        elif item.due_at <= now:
            decided += 1
    return _rate(on_time, decided)


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    """Everything ``GET /api/v1/metrics/summary`` answers; durations in seconds."""

    since: datetime
    until: datetime
    window_seconds: float
    incidents: int
    drills_excluded: int
    open: int
    mttd: MeasureStats
    mtta: MeasureStats
    mttm: MeasureStats
    mttr: MeasureStats
    response_sla: SlaReport
    resolution_sla: SlaReport
    by_severity: dict[str, int]
    by_service: dict[str, int]
    #: Root-cause categories from post-mortems; None when they are not available.
    by_category: dict[str, int] | None
    period: Period
    by_period: list[PeriodCount]
    escalations: Rate
    repeats: Rate
    postmortem_completion: Rate
    action_items_on_time: Rate
    #: Incidents whose confirmed root cause was the top-ranked hint, of those with a
    #: confirmed cause.
    top_hint_confirmed: Rate = field(default_factory=lambda: Rate(0, 0, None))


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(
    incidents: Sequence[IncidentFacts] | IncidentTable,
    *,
    now: datetime,
    window: timedelta,
    targets: Mapping[str, SlaTarget],
    period: Period = Period.week,
    postmortems: PostmortemInputs | None = None,
) -> MetricsSummary:
    """The metrics of the incidents detected in ``[now - window, now)``.

    ``incidents`` may include older ones (up to :data:`REPEAT_WITHIN` before the
    window): they count only as the earlier occurrence of a repeat.
    """
    table = _table(incidents)
    since = now - window
    low, high = since.timestamp(), now.timestamp()
    drills: BoolArray = table.drill & table.detected_between(low, high)
    real = table.where(~table.drill)
    inside = real.where(real.detected_between(low, high))
    ids = set(inside.ids.tolist())
    repeats = repeat_incidents(real) & ids
    by_category = None
    if postmortems is not None:
        known = postmortems.categories
        by_category = _count(known[i] for i in inside.ids.tolist() if i in known)
    return MetricsSummary(
        since=since,
        until=now,
        window_seconds=window.total_seconds(),
        incidents=len(inside),
        drills_excluded=int(np.count_nonzero(drills)),
        open=int(np.count_nonzero(np.isnan(inside.to_resolve))),
        mttd=measure_stats(inside, Measure.mttd),
        mtta=measure_stats(inside, Measure.mtta),
        mttm=measure_stats(inside, Measure.mttm),
        mttr=measure_stats(inside, Measure.mttr),
        response_sla=sla_report(inside, targets, now, response=True),
        resolution_sla=sla_report(inside, targets, now, response=False),
        by_severity={
            name: int(np.count_nonzero(mask)) for name, mask in inside.by_severity().items()
        },
        by_service=_count(chain.from_iterable(inside.services)),
        by_category=by_category,
        period=period,
        by_period=by_period(inside, period, since, now),
        escalations=escalation_rate(inside),
        repeats=_rate(len(repeats), len(inside)),
        postmortem_completion=_postmortem_rate(ids, postmortems),
        action_items_on_time=_action_item_rate(ids, postmortems, now),
    )


def format_seconds(value: float | None) -> str:
    """``45s``, ``12m 30s``, ``3h 5m``, ``2d 4h``; ``n/a`` for None (the one rule of
    :mod:`tocsin.timetext`)."""
    return duration_text(value)
