"""The incident list (``/dashboard``) and an incident's page, read through the same
services as the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.auth import Role
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents import service
from tocsin.incidents.models import Incident, IncidentRead
from tocsin.incidents.rules import IncidentStatus
from tocsin.notify.outbox import deliveries_of
from tocsin.notify.service import list_notifications
from tocsin.policy import Policy
from tocsin.web.dashboard.session import Viewer
from tocsin.web.dashboard.views import age, page, render_fragment
from tocsin.web.deps import CurrentPolicy, NowClock, SessionDep

__all__ = ["incident_row", "router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LIST_LIMIT = 200
NOTIFICATION_LIMIT = 200
#: The incident page lists this many of its alerts (an alert storm holds thousands).
ALERT_LIMIT = 100
Filter = Annotated[str, Query(max_length=100)]


def incident_row(read: IncidentRead, now: datetime) -> Markup:
    """One incident of the list, as HTML (also sent over SSE to update open lists)."""
    return render_fragment(
        "dashboard/_incident_row.html",
        incident=read,
        age=age(read.started_at or read.detected_at, now),
    )


def _filters(policy: Policy) -> dict[str, list[tuple[str, str]]]:
    statuses = [("", "All"), ("active", "Open (not resolved)")]
    statuses += [(s.value, s.value.capitalize()) for s in IncidentStatus]
    return {
        "status": statuses,
        "severity": [("", "All")] + [(s.name, s.name) for s in policy.severities],
        "service": [("", "All")] + [(s.name, s.name) for s in policy.services],
    }


@router.get("")
def incident_list(
    request: Request,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
    status: Filter = "",
    severity: Filter = "",
    service_name: Annotated[str, Query(alias="service", max_length=100)] = "",
) -> HTMLResponse:
    now = clock.now()
    error = None
    rows: list[Incident] = []
    total = 0
    try:
        rows, total = service.list_incidents(
            session=session,
            policy=policy,
            statuses=[status] if status else [],
            severity=severity or None,
            service=service_name or None,
            limit=LIST_LIMIT,
        )
    except InvalidInput as exc:
        error = str(exc)
    reads = [service.to_read(r) for r in rows]
    return page(
        request,
        "dashboard/incidents.html",
        user=user,
        active="incidents",
        status_code=422 if error else 200,
        error=error,
        incidents=reads,
        rows=[incident_row(r, now) for r in reads],
        total=total,
        filters=_filters(policy),
        chosen={"status": status, "severity": severity, "service": service_name},
    )


@dataclass(frozen=True)
class _Choices:
    severities: list[str]
    roles: list[tuple[str, str]]
    people: list[tuple[str, str]]
    statuses: list[str]


def _choices(policy: Policy) -> _Choices:
    return _Choices(
        severities=[s.name for s in policy.severities],
        roles=[(r.name, r.label) for r in policy.roles],
        people=[(p.name, p.full_name or p.name) for p in policy.people],
        statuses=[
            s.value
            for s in IncidentStatus
            if s
            not in (IncidentStatus.triggered, IncidentStatus.acknowledged, IncidentStatus.closed)
        ],
    )


def incident_context(*, session: Session, policy: Policy, incident: Incident) -> dict[str, Any]:
    """Everything the incident page shows, as the API would return it."""
    read = service.to_read(incident)
    linked = alerts.alerts_for_incident(session=session, incident_id=incident.id, limit=ALERT_LIMIT)
    notifications, notification_total = list_notifications(
        session=session, incident_id=incident.id, limit=NOTIFICATION_LIMIT
    )
    role_labels = {r.name: r.label for r in policy.roles}
    return {
        "incident": read,
        "role_labels": role_labels,
        "timeline": [
            service.timeline_to_read(e)
            for e in service.timeline(session=session, incident=incident)
        ],
        "updates": [
            service.update_to_read(incident, u)
            for u in service.list_updates(session=session, incident=incident)
        ],
        "alerts": alerts.alerts_to_read(session=session, alerts=linked),
        "alert_total": alerts.count_for_incident(session=session, incident_id=incident.id),
        "storm": alerts.storm_for_incident(session=session, incident_id=incident.id),
        "notifications": notifications,
        "notification_total": notification_total,
        "deliveries": deliveries_of(
            session=session, notification_ids=[n.id for n in notifications]
        ),
        "choices": _choices(policy),
    }


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request,
    incident_id: str,
    session: SessionDep,
    policy: CurrentPolicy,
    user: Viewer,
) -> HTMLResponse:
    try:
        incident = service.get(session=session, ref=incident_id)
    except NotFound as exc:
        return page(
            request,
            "dashboard/message.html",
            user=user,
            active="incidents",
            status_code=404,
            heading="Incident not found",
            text=str(exc),
        )
    return page(
        request,
        "dashboard/incident.html",
        user=user,
        active="incidents",
        can_act=user.role.allows(Role.responder),
        **incident_context(session=session, policy=policy, incident=incident),
    )
