"""``/metrics``: the Prometheus text exposition of :mod:`tocsin.metrics.catalog`.

A scrape costs a few small queries, whatever the history holds:

- counters and histograms are the totals of ``metric_counters``
  (:mod:`tocsin.metrics.stored_counters`), a row per series, written by the events
  themselves, so every process serving ``/metrics`` reports the same figures and none
  of them ever goes down;
- gauges count what is live now — open incidents, messages and deliveries not sent
  yet — with ``GROUP BY`` queries that read only those rows, through partial indexes
  that hold nothing else (``ix_incidents_open_severity``,
  ``ix_notifications_unsent_channel``, ``ix_deliveries_unsent_channel_state``).

Series that the policy lets us know in advance (its severities, services and
channels) are exposed at 0 before their first event, so that ``increase()`` sees that
event too. The figures go to a registry of their own, never to prometheus_client's
global one; the process, platform and garbage-collector collectors are added when
this process is the only one serving (with ``tocsin serve --workers N`` they would
describe whichever process answered the scrape, and their counters would seem to jump
back and forth).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import product

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.core import Metric as MetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, literal, select, text
from sqlalchemy.orm import Session

from tocsin.db.session import WRITERS
from tocsin.incidents.models import OPEN_INCIDENT_SQL, Incident, IncidentService
from tocsin.metrics import catalog
from tocsin.metrics.catalog import CATALOG, Kind, Metric
from tocsin.metrics.event_metrics import NO_SERVICE
from tocsin.metrics.sql import is_drill
from tocsin.metrics.stored_counters import totals
from tocsin.notify.models import (
    UNSENT_SQL,
    Delivery,
    DeliveryState,
    Notification,
    NotificationKind,
)
from tocsin.notify.observers import DeliveryOutcome
from tocsin.notify.service import PERSON_CHANNEL
from tocsin.policy import Policy

__all__ = ["LabelSets", "Snapshot", "exposition", "known_label_sets", "take_snapshot"]

#: A metric's series: label values (in the metric's label order) -> value.
Series = dict[tuple[str, ...], float]
#: The label value sets known in advance, per metric name.
LabelSets = Mapping[str, Iterable[tuple[str, ...]]]

_UNSENT = (DeliveryState.pending.value, DeliveryState.sending.value)


class Snapshot:
    """Everything one scrape reports: the stored totals and the gauges' values."""

    def __init__(self, stored: Mapping[tuple[str, str], float], gauges: Mapping[str, Series]):
        self._stored: dict[str, list[tuple[dict[str, str], float]]] = {}
        for (name, labels), value in stored.items():
            self._stored.setdefault(name, []).append((json.loads(labels), value))
        self.gauges = gauges

    def stored(self, name: str, labels: tuple[str, ...]) -> Series:
        """The stored series of ``name``, keyed by the values of ``labels``."""
        return {
            tuple(found.get(label, "") for label in labels): value
            for found, value in self._stored.get(name, ())
        }


def take_snapshot(*, session: Session, extra: Mapping[str, Series] | None = None) -> Snapshot:
    """Read the stored totals and the gauges (a handful of small queries; the gauges'
    conditions are the partial indexes' own text, which SQLite needs to use them).
    ``extra``: gauges the caller has read."""
    gauges: dict[str, Series] = dict(extra or {})
    service = func.coalesce(IncidentService.service, literal(NO_SERVICE))
    gauges[catalog.INCIDENTS_OPEN.name] = {
        (severity, name): float(count)
        for severity, name, count in session.execute(
            select(Incident.severity, service, func.count())
            .select_from(Incident)
            .outerjoin(IncidentService, IncidentService.incident_id == Incident.id)
            .where(text(f"incidents.{OPEN_INCIDENT_SQL}"), ~is_drill())
            .group_by(Incident.severity, service)
        )
    }
    gauges[catalog.NOTIFICATIONS_PENDING.name] = {
        (channel,): float(count)
        for channel, count in session.execute(
            select(Notification.channel, func.count())
            .where(text(f"notifications.{UNSENT_SQL}"))
            .group_by(Notification.channel)
        )
    }
    gauges[catalog.DELIVERIES_QUEUED.name] = {
        (channel, state): float(count)
        for channel, state, count in session.execute(
            select(Delivery.channel, Delivery.state, func.count())
            .where(text(f"deliveries.{UNSENT_SQL}"))
            .group_by(Delivery.channel, Delivery.state)
        )
    }
    return Snapshot(totals(session), gauges)


def known_label_sets(policy: Policy) -> dict[str, list[tuple[str, ...]]]:
    """The series the policy lets us name before their first event."""
    severities = [s.name for s in policy.severities]
    services = [*(s.name for s in policy.services), NO_SERVICE]
    channels = sorted(policy.channels)
    by_severity: list[tuple[str, ...]] = [(s,) for s in severities]
    return {
        catalog.INCIDENTS.name: list(product(severities, services)),
        catalog.INCIDENTS_OPEN.name: list(product(severities, services)),
        catalog.SEVERITY_CHANGES.name: by_severity,
        catalog.ESCALATIONS.name: by_severity,
        catalog.HINT_DECISIONS.name: list(product(("confirmed", "rejected"), ("true", "false"))),
        catalog.TIME_TO_ACKNOWLEDGE.name: by_severity,
        catalog.TIME_TO_RESOLVE.name: by_severity,
        catalog.NOTIFICATIONS.name: [(k.value,) for k in NotificationKind],
        catalog.NOTIFICATIONS_PENDING.name: [(c,) for c in (PERSON_CHANNEL, *channels)],
        catalog.DELIVERIES.name: list(product(channels, (o.value for o in DeliveryOutcome))),
        catalog.DELIVERIES_QUEUED.name: list(product(channels, _UNSENT)),
        catalog.DELIVERY_LATENCY.name: [(c,) for c in channels],
        catalog.ALERTS_QUEUED.name: [()],
        catalog.ALERTS_QUEUED_OLDEST.name: [()],
        catalog.WRITER_WAIT.name: [(w,) for w in WRITERS],
    }


class _Families:
    """A prometheus_client collector of the catalog's families from one snapshot."""

    def __init__(self, snapshot: Snapshot, known: LabelSets) -> None:
        self.snapshot = snapshot
        self.known = known

    def collect(self) -> Iterable[MetricFamily]:
        for metric in CATALOG:
            yield self._family(metric)

    def _family(self, metric: Metric) -> MetricFamily:
        labels = list(metric.labels)
        known = self.known.get(metric.name, ())
        if metric.kind is Kind.gauge:
            gauge = GaugeMetricFamily(metric.name, metric.help, labels=labels)
            values: Series = dict.fromkeys(known, 0.0)
            values.update(self.snapshot.gauges.get(metric.name, {}))
            for key, value in sorted(values.items()):
                gauge.add_metric(list(key), value)
            return gauge
        if metric.kind is Kind.counter:
            counter = CounterMetricFamily(metric.name, metric.help, labels=labels)
            values = dict.fromkeys(known, 0.0)
            values.update(self.snapshot.stored(metric.name, metric.labels))
            for key, value in sorted(values.items()):
                counter.add_metric(list(key), value)
            return counter
        return self._histogram(metric, labels, known)

    def _histogram(
        self, metric: Metric, labels: list[str], known: Iterable[tuple[str, ...]]
    ) -> MetricFamily:
        family = HistogramMetricFamily(metric.name, metric.help, labels=labels)
        per_bucket = self.snapshot.stored(f"{metric.name}_bucket", (*metric.labels, "le"))
        sums = self.snapshot.stored(f"{metric.name}_sum", metric.labels)
        series = {*known, *sums, *(key[:-1] for key in per_bucket)}
        for key in sorted(series):
            cumulative = 0.0
            buckets = []
            for bound in metric.bucket_bounds:
                cumulative += per_bucket.get((*key, bound), 0.0)
                buckets.append((bound, cumulative))
            family.add_metric(list(key), buckets, sum_value=sums.get(key, 0.0))
        return family


def exposition(
    *,
    session: Session,
    policy: Policy,
    per_process: bool,
    gauges: Mapping[str, Series] | None = None,
) -> bytes:
    """The text exposition; ``per_process``: with the process's own collectors.
    ``gauges``: values read by the caller, of gauges about what lies above this
    package (the alert inbox's backlog)."""
    registry = CollectorRegistry()
    snapshot = take_snapshot(session=session, extra=gauges)
    registry.register(_Families(snapshot, known_label_sets(policy)))
    if per_process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return generate_latest(registry)
