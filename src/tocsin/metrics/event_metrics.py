"""What each event adds to the Prometheus counters and histograms of
:mod:`tocsin.metrics.catalog`, in the event's own transaction.

The incident hooks and the outbox observers here are registered by
:func:`tocsin.wiring.wire`; the alert intake calls :func:`alerts_taken_in` once per
batch. Each only notes amounts in the session (no SQL, except one read of the
message a sent delivery belongs to, usually in the session already); they are written
when the transaction commits (:mod:`tocsin.metrics.stored_counters`). Drills (the
``drill`` tag) are left out of the incident series.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.metrics.catalog import (
    ALERTS_DEDUPLICATED,
    ALERTS_RECEIVED,
    DELIVERIES,
    DELIVERY_LATENCY,
    ESCALATIONS,
    INCIDENTS,
    NOTIFICATIONS,
    SEVERITY_CHANGES,
    TIME_TO_ACKNOWLEDGE,
    TIME_TO_RESOLVE,
    WRITER_WAIT,
)
from tocsin.metrics.records import DRILL_TAG
from tocsin.notify.models import Delivery, Notification
from tocsin.notify.observers import DeliveryOutcome
from tocsin.policy import Policy

__all__ = [
    "NO_SERVICE",
    "alerts_taken_in",
    "on_declared",
    "on_delivery",
    "on_escalated",
    "on_first_acknowledged",
    "on_queued",
    "on_resolved",
    "on_severity_changed",
    "on_writer_wait",
]

#: The ``service`` label of an incident that names no service.
NO_SERVICE = "none"


def _drill(incident: Incident) -> bool:
    return DRILL_TAG in (incident.tags or ())


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


# ---------------------------------------------------------------- incident hooks


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    if _drill(incident):
        return
    services = [s.service for s in incident.services] or [NO_SERVICE]
    for service in services:
        INCIDENTS.inc(session, {"severity": incident.severity, "service": service})


def on_severity_changed(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    if not _drill(incident):
        SEVERITY_CHANGES.inc(session, {"severity": incident.severity})


def on_escalated(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    if not _drill(incident):
        ESCALATIONS.inc(session, {"severity": incident.severity})


def on_first_acknowledged(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    seconds = _seconds(incident.detected_at, incident.acknowledged_at)
    if seconds is not None and not _drill(incident):
        TIME_TO_ACKNOWLEDGE.observe(session, {"severity": incident.severity}, seconds)


def on_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    seconds = _seconds(incident.detected_at, incident.resolved_at)
    if seconds is not None and not _drill(incident):
        TIME_TO_RESOLVE.observe(session, {"severity": incident.severity}, seconds)


# ---------------------------------------------------------------- outbox observers


def on_queued(*, session: Session, kind: str, channel: str) -> None:
    NOTIFICATIONS.inc(session, {"kind": kind})


def on_delivery(*, session: Session, row: Delivery, outcome: DeliveryOutcome) -> None:
    DELIVERIES.inc(session, {"channel": row.channel, "outcome": outcome.value})
    # A delayed step (``unless`` is set exactly for those) waits on purpose.
    if outcome is not DeliveryOutcome.sent or row.unless is not None:
        return
    message = session.get(Notification, row.notification_id)
    seconds = _seconds(message.created_at if message else None, row.sent_at)
    if seconds is not None:
        DELIVERY_LATENCY.observe(session, {"channel": row.channel}, seconds)


# ---------------------------------------------------------------- the writers


def on_writer_wait(session: Session, writer: str, seconds: float) -> None:
    """A write transaction waited ``seconds`` for its turn (counted if it commits)."""
    WRITER_WAIT.observe(session, {"writer": writer}, seconds)


# ---------------------------------------------------------------- alert intake


def alerts_taken_in(session: Session, *, source: str, received: int, deduplicated: int) -> None:
    """Count one batch of alert events from an integration of kind ``source``."""
    ALERTS_RECEIVED.inc(session, {"source": source}, received)
    ALERTS_DEDUPLICATED.inc(session, {"source": source}, deduplicated)
