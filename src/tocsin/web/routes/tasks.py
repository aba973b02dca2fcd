"""``/api/v1/incidents/{id}/tasks``: an incident's checklists, and ticking or skipping
their items. Reading takes a viewer; ticking and skipping take a responder, and each is
written on the incident's timeline with who did it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tocsin.checklists import service
from tocsin.checklists.models import ChecklistItemRead, SkipRequest, TaskList
from tocsin.web.deps import (
    CurrentIncident,
    CurrentPolicy,
    NowClock,
    Responder,
    SessionDep,
    Viewer,
)
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1/incidents", tags=["checklists"])

ItemNumber = Annotated[
    int, Path(ge=1, le=2**31 - 1, description="The item's number within the incident.")
]


@router.get("/{incident_id}/tasks")
def list_tasks(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    incident: CurrentIncident,
) -> TaskList:
    """The incident's checklists, in the order they were attached."""
    return service.task_list(session=session, policy=policy, incident=incident, now=clock.now())


@router.post("/{incident_id}/tasks/{number}/done")
def tick_task(
    number: ItemNumber,
    session: SessionDep,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> ChecklistItemRead:
    """Tick an item (409 if it is already ticked or skipped)."""
    now = clock.now()
    item = service.settle(
        session=session, incident=incident, number=number, actor=principal.actor, now=now
    )
    return service.item_to_read(item, now)


@router.post("/{incident_id}/tasks/{number}/skip")
def skip_task(
    number: ItemNumber,
    body: SkipRequest,
    session: SessionDep,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> ChecklistItemRead:
    """Skip an item that does not apply, saying why."""
    now = clock.now()
    item = service.settle(
        session=session,
        incident=incident,
        number=number,
        actor=principal.actor,
        now=now,
        skip_reason=body.reason,
    )
    return service.item_to_read(item, now)
