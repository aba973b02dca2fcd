"""``/metrics``: Prometheus text exposition, computed from the database at scrape time.

Several servers share one database, so in-process counters would disagree between
them; every value here is instead read with a few cheap aggregate queries when
Prometheus scrapes (each a single ``GROUP BY``). Drills (the ``drill`` tag) are left
out of the incident series. The metrics go to a registry of their own (with the
process, platform and GC collectors), never to prometheus_client's global one.

- ``tocsin_incidents_total{severity,service}``: incidents declared; one with several
  services counts once per service, one with none under ``service="none"``.
- ``tocsin_incidents_open{severity}``: incidents not resolved or closed.
- ``tocsin_alerts_received_total{source}``: alerts received (repeats included), from
  the ``alerts`` table; no series until that table exists.
- ``tocsin_notifications_total{channel,outcome}``: outbox messages by state.
- ``tocsin_escalations_total``: escalations: "escalated" timeline events (by hand)
  plus pages the engine sent because a tier did not acknowledge in time.
- ``tocsin_time_to_acknowledge_seconds{severity}`` and
  ``tocsin_time_to_resolve_seconds{severity}``: histograms from detection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import (
    and_,
    case,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, IncidentService, TimelineEvent
from tocsin.incidents.rules import ACTIVE_STATUSES
from tocsin.metrics.rules import SLACK
from tocsin.metrics.sql import is_drill, seconds_between
from tocsin.notify.models import Notification

__all__ = ["BUCKETS", "Histogram", "Snapshot", "exposition", "take_snapshot"]

#: Histogram bucket bounds in seconds: 1 m, 5 m, 15 m, 30 m, 1 h, 2 h, 4 h, 8 h, 1 d, 3 d.
BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)

#: Page reason the engine gives when a tier timed out (see tocsin.incidents.paging).
_AUTO_ESCALATION = "not acknowledged within%"


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per bound of :data:`BUCKETS`, plus the total and the sum."""

    buckets: tuple[int, ...]
    count: int
    total: float


@dataclass
class Snapshot:
    incidents: dict[tuple[str, str], int] = field(default_factory=dict)
    open: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, float] | None = None
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)
    escalations: int = 0
    time_to_acknowledge: dict[str, Histogram] = field(default_factory=dict)
    time_to_resolve: dict[str, Histogram] = field(default_factory=dict)


def _histograms(*, session: Session, end: Any) -> dict[str, Histogram]:
    """Durations from detection to ``end`` by severity, bucketed by the database.

    The durations are computed once per incident into a materialised CTE (SQLite would
    otherwise recompute them in every branch of the bucket CASE), then counted per
    severity and bucket; the cumulative counts are summed up here.
    """
    durations = (
        select(
            Incident.severity.label("severity"),
            seconds_between(session=session, start=Incident.detected_at, end=end).label("seconds"),
        )
        .where(end.is_not(None), ~is_drill())
        .cte("durations")
        .prefix_with("MATERIALIZED")
    )
    seconds = durations.c.seconds
    bucket = case(
        *((seconds <= bound + SLACK, index) for index, bound in enumerate(BUCKETS)),
        else_=len(BUCKETS),
    )
    query = select(durations.c.severity, bucket, func.count(), func.sum(seconds)).group_by(
        durations.c.severity, bucket
    )
    counts: dict[str, list[int]] = {}
    totals: dict[str, float] = {}
    for severity, index, count, total in session.execute(query):
        counts.setdefault(severity, [0] * (len(BUCKETS) + 1))[index] += count
        totals[severity] = totals.get(severity, 0.0) + float(total or 0)
    result: dict[str, Histogram] = {}
    for severity, per_bucket in counts.items():
        cumulative = list(accumulate(per_bucket))
        result[severity] = Histogram(tuple(cumulative[:-1]), cumulative[-1], totals[severity])
    return result


def _alerts(*, session: Session) -> dict[str, float] | None:
    """Alerts by source, if the alerts table exists yet (it arrives with its own
    migration); a savepoint keeps a failure from spoiling the scrape's transaction."""
    if not inspect(session.connection()).has_table("alerts"):
        return None
    try:
        with session.begin_nested():
            rows = session.execute(
                text("SELECT source, SUM(occurrences) FROM alerts GROUP BY source")
            ).all()
    except SQLAlchemyError:
        return None
    return {str(source): float(total or 0) for source, total in rows}


def take_snapshot(*, session: Session, severities: Sequence[str]) -> Snapshot:
    snap = Snapshot(open=dict.fromkeys(severities, 0))
    service = func.coalesce(IncidentService.service, literal("none"))
    for severity, name, count in session.execute(
        select(Incident.severity, service, func.count())
        .outerjoin(IncidentService, IncidentService.incident_id == Incident.id)
        .where(~is_drill())
        .group_by(Incident.severity, service)
    ):
        snap.incidents[(severity, name)] = count
    active = [s.value for s in ACTIVE_STATUSES]
    for severity, count in session.execute(
        select(Incident.severity, func.count())
        .where(Incident.status.in_(active), ~is_drill())
        .group_by(Incident.severity)
    ):
        snap.open[severity] = count
    for channel, state, count in session.execute(
        select(Notification.channel, Notification.state, func.count()).group_by(
            Notification.channel, Notification.state
        )
    ):
        snap.notifications[(channel, state)] = count
    event = TimelineEvent
    automatic = and_(
        event.kind == "paged",
        event.data["step"].as_integer() >= 1,
        event.data["reason"].as_string().like(_AUTO_ESCALATION),
    )
    snap.escalations = (
        session.scalar(select(func.count()).where(or_(event.kind == "escalated", automatic))) or 0
    )
    snap.alerts = _alerts(session=session)
    snap.time_to_acknowledge = _histograms(session=session, end=Incident.acknowledged_at)
    snap.time_to_resolve = _histograms(session=session, end=Incident.resolved_at)
    return snap


class SnapshotCollector:
    """Turns a :class:`Snapshot` into metric families (a prometheus_client collector)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        incidents = CounterMetricFamily(
            "tocsin_incidents",
            "Incidents declared (drills excluded).",
            labels=["severity", "service"],
        )
        for (severity, service), count in sorted(snap.incidents.items()):
            incidents.add_metric([severity, service], count)
        yield incidents
        open_ = GaugeMetricFamily(
            "tocsin_incidents_open", "Incidents not resolved yet.", labels=["severity"]
        )
        for severity, count in snap.open.items():
            open_.add_metric([severity], count)
        yield open_
        alerts = CounterMetricFamily(
            "tocsin_alerts_received", "Alerts received, repeats included.", labels=["source"]
        )
        for source, received in sorted((snap.alerts or {}).items()):
            alerts.add_metric([source], received)
        yield alerts
        notifications = CounterMetricFamily(
            "tocsin_notifications",
            "Outbox messages by channel and outcome (state).",
            labels=["channel", "outcome"],
        )
        for (channel, outcome), count in sorted(snap.notifications.items()):
            notifications.add_metric([channel, outcome], count)
        yield notifications
        yield CounterMetricFamily(
            "tocsin_escalations",
            "Escalations: by hand, or because a tier did not acknowledge in time.",
            value=snap.escalations,
        )
        for name, doc, data in (
            (
                "tocsin_time_to_acknowledge_seconds",
                "Time from detection to acknowledgement.",
                snap.time_to_acknowledge,
            ),
            (
                "tocsin_time_to_resolve_seconds",
                "Time from detection to resolution.",
                snap.time_to_resolve,
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=["severity"])
            for severity, histogram in sorted(data.items()):
                buckets = [
                    (repr(float(b)), float(n))
                    for b, n in zip(BUCKETS, histogram.buckets, strict=True)
                ]
                buckets.append(("+Inf", float(histogram.count)))
                family.add_metric([severity], buckets, sum_value=histogram.total)
            yield family


def exposition(*, session: Session, severities: Sequence[str]) -> bytes:
    """The text exposition of everything above plus the process metrics."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(take_snapshot(session=session, severities=severities)))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)
