"""`/api/v1/incidents`: thin handlers over `tocsin.incidents.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tocsin.incidents import service
from tocsin.incidents.models import (
    AcknowledgeRequest,
    IncidentCreate,
    IncidentList,
    IncidentRead,
    IncidentUpdate,
    StatusUpdateCreate,
    StatusUpdateList,
    StatusUpdateRead,
    TimelineList,
    TransitionRequest,
)
from tocsin.incidents.queries import list_reads, read
from tocsin.incidents.rules import IncidentStatus
from tocsin.pagination import CURSOR_HELP
from tocsin.schemas import OneOf
from tocsin.web.deps import (
    CurrentIncident,
    CurrentPolicy,
    IncidentOnly,
    NowClock,
    Responder,
    SessionDep,
    Viewer,
)
from tocsin.web.openapi import answers
from tocsin.web.routing import RequestThreadRoute

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1/incidents", tags=["incidents"])


@router.post("", status_code=201)
def declare_incident(
    body: IncidentCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> IncidentRead:
    incident = service.declare(
        session=session, policy=policy, actor=principal.actor, data=body, now=clock.now()
    )
    return service.to_read(incident)


@router.get("")
def list_incidents(
    session: SessionDep,
    policy: CurrentPolicy,
    _principal: Viewer,
    status: Annotated[
        list[Annotated[str, OneOf(("active", *IncidentStatus), "status", comma_separated=True)]],
        Query(description="Repeatable or comma-separated; 'active' = not resolved"),
    ] = [],  # noqa: B006
    severity: str | None = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    after: Annotated[str | None, Query(max_length=200, description=CURSOR_HELP)] = None,
) -> IncidentList:
    reads, total = list_reads(
        session=session,
        policy=policy,
        statuses=status,
        severity=severity,
        service=service_name,
        limit=limit,
        offset=offset,
        after=after,
        # A walk by cursor counted the matches on its first page: counting them again
        # on every later page would make each page cost as much as the whole history.
        with_total=after is None,
    )
    return IncidentList(
        items=reads,
        total=total if after is None else None,
        limit=limit,
        offset=offset,
        next_cursor=service.incidents_cursor(reads, limit),
    )


@router.get("/{incident_id}")
@answers(404)
def get_incident(_principal: Viewer, session: SessionDep, incident_id: str) -> IncidentRead:
    return read(session=session, ref=incident_id)


@router.patch("/{incident_id}")
def edit_incident(
    body: IncidentUpdate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> IncidentRead:
    service.edit(
        session=session,
        policy=policy,
        incident=incident,
        actor=principal.actor,
        changes=body,
        now=clock.now(),
    )
    return service.to_read(incident)


@router.post("/{incident_id}/acknowledge")
def acknowledge_incident(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
    body: AcknowledgeRequest | None = None,
) -> IncidentRead:
    """Acknowledge (stops the escalation); `on_behalf_of` names others taking it too."""
    service.acknowledge(
        session=session,
        policy=policy,
        incident=incident,
        actor=principal.actor,
        now=clock.now(),
        on_behalf_of=body.on_behalf_of if body else (),
    )
    return service.to_read(incident)


def _add_transition_route(action: str, target: IncidentStatus, summary: str) -> None:
    """POST /{id}/resolve, /close and /reopen differ only in the status they move to."""

    def move(
        session: SessionDep,
        policy: CurrentPolicy,
        clock: NowClock,
        principal: Responder,
        incident: CurrentIncident,
        body: TransitionRequest | None = None,
    ) -> IncidentRead:
        request = body or TransitionRequest()
        service.transition(
            session=session,
            policy=policy,
            incident=incident,
            actor=principal.actor,
            target=target,
            now=clock.now(),
            message=request.message,
            public=request.public,
        )
        return service.to_read(incident)

    router.post(f"/{{incident_id}}/{action}", name=f"{action}_incident", summary=summary)(move)


_add_transition_route("resolve", IncidentStatus.resolved, "Resolve: impact is over")
_add_transition_route("close", IncidentStatus.closed, "Close a resolved incident")
_add_transition_route("reopen", IncidentStatus.triggered, "Reopen a resolved incident")


@router.post("/{incident_id}/updates", status_code=201)
def post_status_update(
    body: StatusUpdateCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> StatusUpdateRead:
    update = service.post_update(
        session=session,
        policy=policy,
        incident=incident,
        actor=principal.actor,
        data=body,
        now=clock.now(),
    )
    return service.update_to_read(incident, update)


@router.get("/{incident_id}/updates")
def list_status_updates(
    session: SessionDep, _principal: Viewer, incident: IncidentOnly
) -> StatusUpdateList:
    updates = service.list_updates(session=session, incident=incident)
    return StatusUpdateList(items=[service.update_to_read(incident, u) for u in updates])


@router.get("/{incident_id}/timeline")
def incident_timeline(
    session: SessionDep,
    _principal: Viewer,
    incident: IncidentOnly,
    limit: Annotated[
        int | None, Query(ge=1, le=1000, description="At most this many events (default: all).")
    ] = None,
    after: Annotated[str | None, Query(max_length=200, description=CURSOR_HELP)] = None,
) -> TimelineList:
    events = service.timeline(session=session, incident=incident, limit=limit, after=after)
    return TimelineList(
        items=[service.timeline_to_read(e) for e in events],
        next_cursor=service.timeline_cursor(events, limit) if limit is not None else None,
    )
