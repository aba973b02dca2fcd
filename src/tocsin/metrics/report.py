"""The monthly incident review as Markdown and HTML, with SVG charts (or without them,
for a terminal).

:func:`monthly_review` loads what the review needs (incidents of the month and the five
before it for the trends, the impacts for the error budgets) and :func:`build_review`
computes it from plain records. Figures for a month still under way are as of ``now``.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.metrics import charts
from tocsin.metrics.budget import BadTime, Impact, SloStatus, merge_impacts, slo_status
from tocsin.metrics.report_templates import HTML, MARKDOWN
from tocsin.metrics.rules import (
    DRILL_TAG,
    ActionItemFacts,
    IncidentFacts,
    Measure,
    PostmortemInputs,
    Stats,
    format_seconds,
    measure_stats,
)
from tocsin.metrics.service import load_impacts, load_table, postmortem_inputs
from tocsin.metrics.table import IncidentTable
from tocsin.policy import Policy

__all__ = [
    "MEDIA_TYPES",
    "MonthlyReview",
    "ReportFormat",
    "build_review",
    "month_bounds",
    "monthly_review",
    "parse_month",
    "previous_month",
    "render",
]

TREND_MONTHS = 6
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportFormat(StrEnum):
    markdown = "markdown"
    html = "html"


def _add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``"2026-10"`` → (2026-10-01T00:00Z, 2026-11-01T00:00Z)."""
    start = parse_month(month)
    return start, _add_months(start, 1)


def parse_month(month: str, field: str = "month") -> datetime:
    match = _MONTH.match(month.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise InvalidInput(field, f"{month!r} is not a month: use YYYY-MM, e.g. 2026-10")
    return datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)


def previous_month(now: datetime) -> str:
    start = _add_months(now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0), -1)
    return f"{start:%Y-%m}"


@dataclass
class MonthlyReview:
    month: str
    title: str
    start: datetime
    end: datetime
    as_of: datetime
    total: int
    drills_excluded: int
    by_severity: dict[str, int]
    mttr: Stats
    mttr_by_severity: dict[str, Stats]
    resolve_targets: dict[str, float]
    budgets: list[SloStatus]
    #: Root-cause categories, most frequent first; None without post-mortems.
    categories: list[tuple[str, int]] | None
    top_tags: list[tuple[str, int]]
    #: Open action items; None without post-mortems.
    action_items: list[ActionItemFacts] | None
    trend_months: list[str]
    trend_counts: dict[str, list[int]]
    trend_mttr_mean: list[float | None]
    trend_mttr_median: list[float | None]
    burn_days: list[datetime]
    burn: dict[str, list[float]]
    charts: dict[str, str] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        return self.as_of < self.end

    @property
    def last_day(self) -> datetime:
        return self.end - timedelta(days=1)

    @property
    def nothing_resolved(self) -> str:
        if not self.total:
            return "No incidents were detected this month."
        return "None of this month's incidents is resolved yet."

    @property
    def categories_note(self) -> str:
        if self.categories is None:
            return "Root-cause categories come from post-mortems, which are not available."
        return "No post-mortem of this month's incidents names a root-cause category yet."

    def target_met(self, severity: str) -> str:
        stats, target = self.mttr_by_severity.get(severity), self.resolve_targets.get(severity)
        if stats is None or stats.mean is None or target is None:
            return "n/a"
        return "yes" if stats.mean <= target else "no"


def _top(counter: Counter[str], limit: int = 5) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def _budget_burn(
    policy: Policy, impacts: Mapping[str, Sequence[Impact]], days: Sequence[datetime]
) -> dict[str, list[float]]:
    """Per service, the share of the budget spent over the rolling window at each day's
    end (in percent)."""
    burn: dict[str, list[float]] = {}
    for slo in policy.slos:
        bad = BadTime(merge_impacts(impacts.get(slo.service, ()), now=days[-1]))
        span, budget = slo.window.total_seconds(), slo.budget.total_seconds()
        burn[slo.service] = [
            100 * bad.between(d.timestamp() - span, d.timestamp()) / budget for d in days
        ]
    return burn


def build_review(
    *,
    policy: Policy,
    month: str,
    now: datetime,
    facts: Sequence[IncidentFacts] | IncidentTable,
    impacts: Mapping[str, Sequence[Impact]],
    postmortems: PostmortemInputs | None,
    with_charts: bool = True,
) -> MonthlyReview:
    """The review of ``month`` from plain records (pure, apart from drawing charts;
    ``with_charts=False`` draws none)."""
    start, end = month_bounds(month)
    as_of = min(end, now)
    low, high = start.timestamp(), end.timestamp()
    table = facts if isinstance(facts, IncidentTable) else IncidentTable.from_facts(facts)
    real = table.where(~table.drill)
    inside = real.where(real.detected_between(low, high))
    severities = [s.name for s in policy.severities]
    counted = {name: int(mask.sum()) for name, mask in inside.by_severity().items()}
    mttr = measure_stats(inside, Measure.mttr)
    services = {s.name for s in policy.services}
    tags = Counter(t for ts in inside.tags for t in ts if t not in services and t != DRILL_TAG)
    categories = None
    action_items = None
    if postmortems is not None:
        known = postmortems.categories
        categories = _top(Counter(known[i] for i in inside.ids.tolist() if i in known))
        action_items = sorted(
            (a for a in postmortems.action_items if a.completed_at is None),
            key=lambda a: (a.due_at or end, a.title),
        )
    trend_starts = [_add_months(start, k - TREND_MONTHS + 1) for k in range(TREND_MONTHS)]
    trend_counts: dict[str, list[int]] = {s: [] for s in severities}
    trend_mean: list[float | None] = []
    trend_median: list[float | None] = []
    for month_start in trend_starts:
        month_end = _add_months(month_start, 1)
        chunk = real.where(real.detected_between(month_start.timestamp(), month_end.timestamp()))
        per = {name: int(mask.sum()) for name, mask in chunk.by_severity().items()}
        for name in severities:
            trend_counts[name].append(per.get(name, 0))
        overall = measure_stats(chunk, Measure.mttr).overall
        trend_mean.append(overall.mean)
        trend_median.append(overall.median)
    ends = (start + timedelta(days=k + 1) for k in range((end - start).days))
    days = [d for d in ends if d <= as_of] or [as_of]
    budgets = [
        slo_status(
            service=slo.service,
            objective=slo.objective,
            window=slo.window,
            alerts=[],
            impacts=impacts.get(slo.service, []),
            now=as_of,
        )
        for slo in policy.slos
    ]
    review = MonthlyReview(
        month=month,
        title=f"{start:%B %Y}",
        start=start,
        end=end,
        as_of=as_of,
        total=len(inside),
        drills_excluded=int((table.drill & table.detected_between(low, high)).sum()),
        by_severity={name: counted.get(name, 0) for name in severities}
        | {name: n for name, n in counted.items() if name not in severities},
        mttr=mttr.overall,
        mttr_by_severity=mttr.by_severity,
        resolve_targets={s.name: s.resolve_target.total_seconds() for s in policy.severities},
        budgets=budgets,
        categories=categories,
        top_tags=_top(tags),
        action_items=action_items,
        trend_months=[f"{m:%b %Y}" for m in trend_starts],
        trend_counts=trend_counts,
        trend_mttr_mean=trend_mean,
        trend_mttr_median=trend_median,
        burn_days=days,
        burn=_budget_burn(policy, impacts, days),
    )
    if with_charts:
        review.charts = {
            "severity": charts.severity_trend_chart(review.trend_months, trend_counts, severities),
            "mttr": charts.mttr_trend_chart(review.trend_months, trend_mean, trend_median),
            "budget": charts.budget_burn_chart(days, review.burn) if review.burn else "",
        }
    return review


def monthly_review(
    *, session: Session, policy: Policy, month: str, now: datetime, with_charts: bool = True
) -> MonthlyReview:
    start, end = month_bounds(month)
    if start > now:
        raise InvalidInput("month", f"{month} has not begun yet")
    as_of = min(end, now)
    first = _add_months(start, 1 - TREND_MONTHS)
    facts = load_table(session=session, since=first, until=as_of, with_tags=True)
    longest = max((s.window for s in policy.slos), default=timedelta(0))
    impacts = load_impacts(
        session=session, policy=policy, slos=policy.slos, since=start - longest, until=as_of
    )
    pm = postmortem_inputs(session=session, incident_ids=facts.ids[~facts.drill].tolist())
    return build_review(
        policy=policy,
        month=month,
        now=now,
        facts=facts,
        impacts=impacts,
        postmortems=pm,
        with_charts=with_charts,
    )


# ---------------------------------------------------------------- rendering

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(value: Any) -> str:
    """Text made inert in Markdown: one line, formatting characters and HTML escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _day(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d}"


def _due_day(value: datetime | None) -> str:
    """An action item's due date: ``due_at`` is the end of that day (the next
    midnight, exclusive), so the day shown is the one it closes."""
    return "-" if value is None else _day(value - timedelta(microseconds=1))


def _pct(value: float) -> str:
    return f"{value:.1f} %"


def _avail(value: float) -> str:
    return f"{value:.3f} %"


def _datauri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _environment(autoescape: bool) -> Environment:
    env = Environment(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters.update(
        md=_md,
        dur=format_seconds,
        day=_day,
        due=_due_day,
        stamp=lambda v: f"{v:%Y-%m-%d %H:%M} UTC",
        pct=_pct,
        avail=_avail,
        datauri=_datauri,
    )
    return env


_TEMPLATES = {
    ReportFormat.markdown: _environment(autoescape=False).from_string(MARKDOWN),
    ReportFormat.html: _environment(autoescape=True).from_string(HTML),
}

MEDIA_TYPES = {
    ReportFormat.markdown: "text/markdown; charset=utf-8",
    ReportFormat.html: "text/html; charset=utf-8",
}


def render(review: MonthlyReview, fmt: ReportFormat) -> str:
    return _TEMPLATES[fmt].render(r=review)
