"""Every series ``/metrics`` serves: its name, type, labels and meaning, in one list.

Counters and histograms are recorded when their event happens, in the event's
transaction (:mod:`tocsin.metrics.stored_counters`), with the labels the event had then:
an incident declared SEV2 stays counted under SEV2 when it is later raised to SEV1.
Gauges describe the present and are read from the database when Prometheus scrapes
(:mod:`tocsin.metrics.prometheus`). The README's metrics table is this list.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from prometheus_client import utils
from sqlalchemy.orm import Session

from tocsin.metrics.stored_counters import add

__all__ = [
    "ALERTS_DEDUPLICATED",
    "ALERTS_QUEUED",
    "ALERTS_QUEUED_OLDEST",
    "ALERTS_RECEIVED",
    "CATALOG",
    "DELIVERIES",
    "DELIVERIES_QUEUED",
    "DELIVERY_LATENCY",
    "DURATION_BUCKETS",
    "ESCALATIONS",
    "HINT_DECISIONS",
    "INCIDENTS",
    "INCIDENTS_OPEN",
    "LATENCY_BUCKETS",
    "NOTIFICATIONS",
    "NOTIFICATIONS_PENDING",
    "SEVERITY_CHANGES",
    "TIME_TO_ACKNOWLEDGE",
    "TIME_TO_RESOLVE",
    "WAIT_BUCKETS",
    "WRITER_WAIT",
    "Kind",
    "Metric",
]


#: How Prometheus writes a bucket bound ("60.0", "+Inf"); the library leaves it untyped.
_bound_text = cast(Callable[[float], str], utils.floatToGoString)


class Kind(StrEnum):
    counter = "counter"
    gauge = "gauge"
    histogram = "histogram"


@dataclass(frozen=True)
class Metric:
    """One metric family. ``name`` is the exposed name (a counter's ends in ``_total``)."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()

    def inc(self, session: Session, labels: Mapping[str, str], amount: float = 1.0) -> None:
        """Count ``amount`` events of a counter when ``session``'s transaction commits."""
        assert self.kind is Kind.counter and set(labels) == set(self.labels), (self, labels)
        if amount:
            add(session, self.name, labels, amount)

    def observe(self, session: Session, labels: Mapping[str, str], value: float) -> None:
        """Observe ``value`` in a histogram when ``session``'s transaction commits: one
        to the bucket it falls in (stored per bucket, summed up when scraped) and
        ``value`` to the sum."""
        assert self.kind is Kind.histogram and set(labels) == set(self.labels), (self, labels)
        index = bisect_left(self.buckets, value)
        bound = self.buckets[index] if index < len(self.buckets) else float("inf")
        add(session, f"{self.name}_bucket", {**labels, "le": _bound_text(bound)})
        add(session, f"{self.name}_sum", labels, value)

    @property
    def bucket_bounds(self) -> tuple[str, ...]:
        """The ``le`` values of a histogram's buckets, ``+Inf`` last."""
        return (*(_bound_text(b) for b in self.buckets), "+Inf")


#: Times from detection, in seconds: 1 m, 5 m, 15 m, 30 m, 1 h, 2 h, 4 h, 8 h, 1 d, 3 d.
DURATION_BUCKETS: tuple[float, ...] = (
    60,
    300,
    900,
    1800,
    3600,
    7200,
    14400,
    28800,
    86400,
    259200,
)
#: Delivery latency, in seconds: 100 ms to 15 minutes.
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

#: Waits for the writer lock, in seconds: 1 ms to 30 s (a writer gives up waiting on
#: the other threads of its process after 30 s).
WAIT_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30)

INCIDENTS = Metric(
    "tocsin_incidents_total",
    Kind.counter,
    ("severity", "service"),
    "Incidents declared, by the severity and services they were declared with; one "
    "with several services counts once per service, one with none under service "
    '"none". Drills are left out.',
)
SEVERITY_CHANGES = Metric(
    "tocsin_incident_severity_changes_total",
    Kind.counter,
    ("severity",),
    "Severity changes of incidents, by the new severity.",
)
ESCALATIONS = Metric(
    "tocsin_escalations_total",
    Kind.counter,
    ("severity",),
    "Escalations: a responder escalated, a tier did not acknowledge in time and the "
    "next one was paged, or a breached response SLA paged the next tier.",
)
HINT_DECISIONS = Metric(
    "tocsin_hint_decisions_total",
    Kind.counter,
    ("decision", "top"),
    "Root-cause hints a responder confirmed or rejected (decision), and whether the hint "
    "was ranked first then (top): confirmed with top=true over all confirmed is how often "
    "the top hint was the cause.",
)
TIME_TO_ACKNOWLEDGE = Metric(
    "tocsin_time_to_acknowledge_seconds",
    Kind.histogram,
    ("severity",),
    "Time from detection to an incident's first acknowledgement, observed then, by the "
    "severity the incident had then. Drills are left out.",
    DURATION_BUCKETS,
)
TIME_TO_RESOLVE = Metric(
    "tocsin_time_to_resolve_seconds",
    Kind.histogram,
    ("severity",),
    "Time from detection to resolution, observed at each resolution (a reopened "
    "incident resolved again counts again), by the severity the incident had then. "
    "Drills are left out.",
    DURATION_BUCKETS,
)
ALERTS_RECEIVED = Metric(
    "tocsin_alerts_received_total",
    Kind.counter,
    ("source",),
    "Alert events taken in (repeats included), by the kind of integration they came "
    "from (alertmanager, grafana, pagerduty, generic, heartbeat).",
)
ALERTS_DEDUPLICATED = Metric(
    "tocsin_alerts_deduplicated_total",
    Kind.counter,
    ("source",),
    "Alert events that repeated an alert already firing: counted on it, nothing else.",
)
NOTIFICATIONS = Metric(
    "tocsin_notifications_total",
    Kind.counter,
    ("kind",),
    "Messages queued for people or channels (page, stakeholder, reminder, handoff, "
    "subscriber, broadcast, postmortem, slo_burn); a message already queued under the "
    "same idempotency key is not counted again.",
)
DELIVERIES = Metric(
    "tocsin_deliveries_total",
    Kind.counter,
    ("channel", "outcome"),
    "Outcomes of delivery attempts by channel: sent; retry (a temporary error, tried "
    "again later); failed (given up: the dead letter).",
)
DELIVERY_LATENCY = Metric(
    "tocsin_delivery_latency_seconds",
    Kind.histogram,
    ("channel",),
    "Time from a message being queued to its delivery being sent, retries and rate "
    "limits included, for the deliveries due at once (a later step of a person's "
    "notification rules waits on purpose and is not observed).",
    LATENCY_BUCKETS,
)
INCIDENTS_OPEN = Metric(
    "tocsin_incidents_open",
    Kind.gauge,
    ("severity", "service"),
    "Incidents not resolved or closed now, by severity and service (as "
    "tocsin_incidents_total counts them). Drills are left out.",
)
NOTIFICATIONS_PENDING = Metric(
    "tocsin_notifications_pending",
    Kind.gauge,
    ("channel",),
    'Messages not delivered yet (pending or being sent), by their channel ("person" for '
    "a message to a person, reached on the channels of their notification rules).",
)
DELIVERIES_QUEUED = Metric(
    "tocsin_deliveries_queued",
    Kind.gauge,
    ("channel", "state"),
    "Deliveries waiting to be sent (state pending: due, delayed or waiting for a retry) "
    "or being sent (state sending), by channel.",
)
ALERTS_QUEUED = Metric(
    "tocsin_alerts_queued",
    Kind.gauge,
    (),
    "Alerts accepted (answered 2xx, stored) but not decided yet: the backlog of large "
    "or queued webhook bodies, decided a chunk at a time, oldest first.",
)
ALERTS_QUEUED_OLDEST = Metric(
    "tocsin_alerts_queued_oldest_seconds",
    Kind.gauge,
    (),
    "How long the oldest body with alerts not decided yet has waited (0 when none "
    "waits): alerts that wait are not paged for yet.",
)
WRITER_WAIT = Metric(
    "tocsin_writer_wait_seconds",
    Kind.histogram,
    ("writer",),
    "How long write transactions waited for their turn to write, by the kind of writer: "
    "foreground (a person's action through the API, the dashboard, the CLI or chat-ops, "
    "and requests of a few alerts), background (the engine's timers and the delivery "
    "worker) or bulk (alert ingestion of many alerts, which steps aside for the others). "
    "Foreground and background writers wait at most for one bulk transaction, which is "
    "kept to about 50 ms; waits past 250 ms mean pages are waiting for the database.",
    WAIT_BUCKETS,
)

CATALOG: tuple[Metric, ...] = (
    INCIDENTS,
    SEVERITY_CHANGES,
    ESCALATIONS,
    HINT_DECISIONS,
    TIME_TO_ACKNOWLEDGE,
    TIME_TO_RESOLVE,
    ALERTS_RECEIVED,
    ALERTS_DEDUPLICATED,
    NOTIFICATIONS,
    DELIVERIES,
    DELIVERY_LATENCY,
    INCIDENTS_OPEN,
    NOTIFICATIONS_PENDING,
    DELIVERIES_QUEUED,
    ALERTS_QUEUED,
    ALERTS_QUEUED_OLDEST,
    WRITER_WAIT,
)
