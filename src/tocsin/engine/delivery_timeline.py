"""What the outbox's deliveries add to an incident's story, in the transaction that
changes them: the first delivery of a page (``page_delivered``: "Page to charlie
delivered by console"), and the dead letter, a delivery that failed for good
(``notification_failed``).

The outbox's state changes are :mod:`tocsin.notify.deliveries`; the timeline is the
incidents domain's, which sits above the outbox, so the engine (above both) joins them
here. Steps on channels that are not configured never get a delivery, so they add
nothing here: the policy warnings say once who they leave unreached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.service import get_by_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify import deliveries
from tocsin.notify.models import Delivery, DeliveryState, NotificationKind

__all__ = ["fail_delivery", "record_failure", "record_page_delivered"]


def record_failure(*, session: Session, row: Delivery, error: str, now: datetime) -> None:
    """``notification_failed`` on the timeline of the delivery's incident, if it has one."""
    _record(
        session,
        row,
        now,
        "notification_failed",
        f"Could not deliver the {deliveries.describe(row)}: {error}",
        {"attempts": row.attempts, "error": error},
    )


def fail_delivery(
    *, session: Session, row: Delivery, error: str, now: datetime, refresh: bool = True
) -> None:
    """Fail ``row`` with ``error`` (the dead letter) and say so on the timeline."""
    deliveries.fail(session=session, row=row, error=error, refresh=refresh)
    record_failure(session=session, row=row, error=error, now=now)


def record_page_delivered(*, session: Session, row: Delivery, now: datetime) -> None:
    """``page_delivered`` on the incident's timeline when ``row``, just sent, is the
    first delivery of its page to go out (the others of the same page add nothing)."""
    if row.kind != NotificationKind.page.value or row.incident_id is None:
        return
    earlier = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.notification_id == row.notification_id,
            Delivery.state == DeliveryState.sent.value,
            Delivery.id != row.id,
        )
        .limit(1)
    )
    if earlier is not None:
        return
    _record(
        session, row, now, "page_delivered", f"Page to {row.person} delivered by {row.channel}", {}
    )


def _record(
    session: Session, row: Delivery, now: datetime, kind: str, summary: str, extra: dict[str, Any]
) -> None:
    """An entry about ``row`` on its incident's timeline, if it has an incident."""
    if row.incident_id is None:
        return
    incident = get_by_id(session=session, incident_id=row.incident_id, with_related=False)
    if incident is None:
        return
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind=kind,
        summary=summary,
        data={
            "delivery_id": row.id,
            "notification_id": row.notification_id,
            "channel": row.channel,
            "person": row.person,
            "target": row.target,
            **extra,
        },
    )
