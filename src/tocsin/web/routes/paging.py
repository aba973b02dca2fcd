"""Escalation controls and the notification outbox views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query

from tocsin.incidents import paging, service
from tocsin.incidents.models import EscalateRequest, IncidentRead, ReassignRequest
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.models import (
    Delivery,
    DeliveryRead,
    Notification,
    NotificationList,
    NotificationRead,
    NotificationState,
)
from tocsin.notify.outbox import deliveries_of
from tocsin.notify.service import list_notifications
from tocsin.web.deps import (
    CurrentIncident,
    CurrentPolicy,
    NowClock,
    Responder,
    SessionDep,
    Viewer,
)
from tocsin.web.routing import RequestThreadRoute

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["paging"])


@router.post("/incidents/{incident_id}/escalate")
def escalate_incident(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
    body: EscalateRequest | None = None,
) -> IncidentRead:
    """Page the next tier now, or a chosen tier (1-based) of the current round."""
    request = body or EscalateRequest()
    paging.escalate_now(
        session=session,
        policy=policy,
        incident=incident,
        now=clock.now(),
        actor=principal.actor,
        tier=request.tier,
        reason=request.reason or (f"to tier {request.tier}" if request.tier else "next tier"),
    )
    return service.to_read(incident)


@router.post("/incidents/{incident_id}/repage")
def repage_incident(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> IncidentRead:
    """Page the current tier again and restart its timeout."""
    paging.repage(
        session=session, policy=policy, incident=incident, now=clock.now(), actor=principal.actor
    )
    return service.to_read(incident)


@router.post("/incidents/{incident_id}/reassign")
def reassign_incident(
    body: ReassignRequest,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> IncidentRead:
    """Page one chosen person now; the escalation goes on if they do not acknowledge."""
    paging.reassign(
        session=session,
        policy=policy,
        incident=incident,
        person=body.person,
        now=clock.now(),
        actor=principal.actor,
        note=body.note,
    )
    return service.to_read(incident)


@router.get("/incidents/{incident_id}/notifications")
def incident_notifications(
    session: SessionDep,
    _principal: Viewer,
    incident: CurrentIncident,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> NotificationList:
    """Who was paged or told, when, and why."""
    rows, total = list_notifications(
        session=session, incident_id=incident.id, limit=limit, offset=offset
    )
    ref = format_incident_id(incident.number)
    deliveries = deliveries_of(session=session, notification_ids=[r.id for r in rows])
    return NotificationList(items=[_read(r, ref, deliveries) for r in rows], total=total)


@router.get("/notifications")
def notifications(
    session: SessionDep,
    _principal: Viewer,
    state: Annotated[list[NotificationState], Query()] = [],  # noqa: B006
    channel: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> NotificationList:
    """The outbox, oldest first; ``channel`` keeps the messages delivered (or to be
    delivered) on those channels, e.g. ``console``."""
    rows, total = list_notifications(
        session=session,
        states=[s.value for s in state],
        channels=channel,
        limit=limit,
        offset=offset,
    )
    numbers = service.numbers_by_id(session=session, ids={r.incident_id for r in rows})
    deliveries = deliveries_of(session=session, notification_ids=[r.id for r in rows])
    return NotificationList(
        items=[
            _read(
                r,
                format_incident_id(numbers[r.incident_id]) if r.incident_id else None,
                deliveries,
            )
            for r in rows
        ],
        total=total,
    )


def _read(
    row: Notification, incident_ref: str | None, deliveries: Mapping[int, list[Delivery]]
) -> NotificationRead:
    return NotificationRead(
        id=row.id,
        incident_id=incident_ref,
        person=row.person,
        kind=row.kind,
        channel=row.channel,
        subject=row.subject,
        body=row.body,
        reason=row.reason,
        state=row.state,
        attempts=row.attempts,
        due_at=row.due_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        delay_reason=row.delay_reason,
        deliveries=[_delivery(d) for d in deliveries.get(row.id, [])],
    )


def _delivery(row: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=row.id,
        channel=row.channel,
        target=row.target,
        step=row.step,
        state=row.state,
        attempts=row.attempts,
        due_at=row.due_at,
        started_at=row.started_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        delay_reason=row.delay_reason,
    )
