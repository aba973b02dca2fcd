"""``/api/v1/statuspage``: the communications lead's API (responder role to write).

Public incidents (with drafts awaiting publication), their updates, and scheduled
maintenance. Thin handlers over :mod:`tocsin.statuspage.service`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tocsin.statuspage import service
from tocsin.statuspage.models import (
    MaintenanceCreate,
    MaintenanceEdit,
    MaintenanceList,
    MaintenanceRead,
    PublicUpdateCreate,
    StatusIncidentCreate,
    StatusIncidentList,
    StatusIncidentRead,
)
from tocsin.web.deps import CurrentPolicy, NowClock, Responder, SessionDep, Viewer
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(
    route_class=RequestThreadRoute, prefix="/api/v1/statuspage", tags=["status page"]
)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.post("/incidents", status_code=201)
def create_incident(
    body: StatusIncidentCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> StatusIncidentRead:
    """Open a public incident; ``draft: true`` keeps it off the page until published."""
    incident = service.create_incident(
        session=session, policy=policy, actor=principal.actor, data=body, now=clock.now()
    )
    return service.to_read(session=session, policy=policy, incident=incident)


@router.get("/incidents")
def list_incidents(
    session: SessionDep,
    policy: CurrentPolicy,
    _principal: Viewer,
    draft: Annotated[bool | None, Query(description="true: drafts only; false: published")] = None,
    unresolved: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> StatusIncidentList:
    rows, total = service.list_incidents(
        session=session, draft=draft, unresolved=unresolved, limit=limit, offset=offset
    )
    return StatusIncidentList(
        items=[service.to_read(session=session, policy=policy, incident=r) for r in rows],
        total=total,
    )


@router.get("/incidents/{code}")
def get_incident(
    code: str, session: SessionDep, policy: CurrentPolicy, _principal: Viewer
) -> StatusIncidentRead:
    incident = service.get_incident(session=session, code=code)
    return service.to_read(session=session, policy=policy, incident=incident)


@router.post("/incidents/{code}/updates", status_code=201)
def post_update(
    code: str,
    body: PublicUpdateCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> StatusIncidentRead:
    """Post an update (status, impact, component states and/or a body)."""
    incident = service.get_incident(session=session, code=code)
    service.add_update(
        session=session,
        policy=policy,
        actor=principal.actor,
        incident=incident,
        data=body,
        now=clock.now(),
    )
    return service.to_read(session=session, policy=policy, incident=incident)


@router.post("/incidents/{code}/publish")
def publish_incident(
    code: str, session: SessionDep, policy: CurrentPolicy, clock: NowClock, _p: Responder
) -> StatusIncidentRead:
    """Put a draft on the page (409 if it is published already)."""
    incident = service.get_incident(session=session, code=code)
    service.publish(session=session, policy=policy, incident=incident, now=clock.now())
    return service.to_read(session=session, policy=policy, incident=incident)


@router.post("/maintenances", status_code=201)
def create_maintenance(
    body: MaintenanceCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> MaintenanceRead:
    now = clock.now()
    maintenance = service.create_maintenance(
        session=session, policy=policy, actor=principal.actor, data=body, now=now
    )
    return service.maintenance_to_read(policy=policy, maintenance=maintenance, now=now)


@router.get("/maintenances")
def list_maintenances(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MaintenanceList:
    now = clock.now()
    rows, total = service.list_maintenances(session=session, limit=limit, offset=offset)
    return MaintenanceList(
        items=[service.maintenance_to_read(policy=policy, maintenance=m, now=now) for m in rows],
        total=total,
    )


@router.get("/maintenances/{code}")
def get_maintenance(
    code: str, session: SessionDep, policy: CurrentPolicy, clock: NowClock, _p: Viewer
) -> MaintenanceRead:
    maintenance = service.get_maintenance(session=session, code=code)
    return service.maintenance_to_read(policy=policy, maintenance=maintenance, now=clock.now())


@router.patch("/maintenances/{code}")
def edit_maintenance(
    code: str,
    body: MaintenanceEdit,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> MaintenanceRead:
    now = clock.now()
    maintenance = service.get_maintenance(session=session, code=code)
    service.edit_maintenance(
        session=session,
        policy=policy,
        actor=principal.actor,
        maintenance=maintenance,
        changes=body,
        now=now,
    )
    return service.maintenance_to_read(policy=policy, maintenance=maintenance, now=now)


@router.delete("/maintenances/{code}", status_code=204)
def delete_maintenance(code: str, session: SessionDep, _p: Responder) -> Response:
    """Cancel a maintenance: it disappears from the page."""
    maintenance = service.get_maintenance(session=session, code=code)
    service.delete_maintenance(session=session, maintenance=maintenance)
    return Response(status_code=204)
