"""The dead letter: a delivery that failed for good, and its line on the incident's
timeline (``notification_failed``), written in the same transaction.

The outbox's state change is :func:`tocsin.notify.deliveries.fail`; the timeline entry
is the incidents domain's, which sits above the outbox, so the engine (above both)
joins them here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.incidents.service import get_by_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify import deliveries
from tocsin.notify.models import Delivery

__all__ = ["fail_delivery", "record_failure"]


def record_failure(*, session: Session, row: Delivery, error: str, now: datetime) -> None:
    """``notification_failed`` on the timeline of the delivery's incident, if it has one."""
    if row.incident_id is None:
        return
    incident = get_by_id(session=session, incident_id=row.incident_id, with_related=False)
    if incident is None:
        return
    who = row.person or row.target or "the broadcast"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="notification_failed",
        summary=f"Could not deliver the {row.kind} to {who} by {row.channel}: {error}",
        data={
            "delivery_id": row.id,
            "notification_id": row.notification_id,
            "channel": row.channel,
            "person": row.person,
            "target": row.target,
            "attempts": row.attempts,
            "error": error,
        },
    )


def fail_delivery(
    *, session: Session, row: Delivery, error: str, now: datetime, refresh: bool = True
) -> None:
    """Fail ``row`` with ``error`` (the dead letter) and say so on the timeline."""
    deliveries.fail(session=session, row=row, error=error, refresh=refresh)
    record_failure(session=session, row=row, error=error, now=now)
