"""Diagnostics and playbooks of an incident: ``/api/v1/incidents/{id}/diagnostics`` and
``/api/v1/incidents/{id}/playbooks``.

What runs comes only from the policy: a request names a collector or a playbook, never
a command. A viewer reads; a responder asks for diagnostics and proposes a playbook;
only the incident's commander (or an admin) approves or declines one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel

from tocsin.auth import Principal, Role
from tocsin.incidents.rules import format_incident_id
from tocsin.runbooks import service
from tocsin.runbooks.models import DiagnoseRequest, RunKind, RunList, RunRead
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

router = APIRouter(route_class=RequestThreadRoute, tags=["diagnostics and playbooks"])


@router.post("/api/v1/incidents/{incident_id}/diagnostics", status_code=202)
def request_diagnostics(
    principal: Responder,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    body: Annotated[DiagnoseRequest | None, Body()] = None,
) -> RunList:
    """Queue a collector of the policy (``collector``), or every one that fits the
    incident's services; the runs follow (202). Results: ``GET`` the same path."""
    runs = service.request_diagnostics(
        session=session,
        policy=policy,
        incident=incident,
        actor=principal.actor,
        collector=body.collector if body else None,
        now=clock.now(),
    )
    ref = format_incident_id(incident.number)
    return RunList(items=[service.to_read(run, [], ref) for run in runs])


@router.get("/api/v1/incidents/{incident_id}/diagnostics")
def list_diagnostics(_principal: Viewer, incident: CurrentIncident, session: SessionDep) -> RunList:
    """The incident's diagnostic runs with every step's output (secrets masked)."""
    return RunList(
        items=service.list_runs(session=session, incident=incident, kind=RunKind.diagnostic)
    )


@router.get("/api/v1/incidents/{incident_id}/playbooks")
def list_playbooks(_principal: Viewer, incident: CurrentIncident, session: SessionDep) -> RunList:
    """The incident's playbook proposals and runs, with each step's outcome."""
    return RunList(
        items=service.list_runs(session=session, incident=incident, kind=RunKind.playbook)
    )


class PlannedStep(BaseModel):
    name: str
    kind: str
    display: str
    condition: str | None
    error: str | None


class DryRun(BaseModel):
    playbook: str
    incident: str
    steps: list[PlannedStep]


@router.get("/api/v1/incidents/{incident_id}/playbooks/{name}/dry-run")
def dry_run(
    name: str,
    _principal: Viewer,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
) -> DryRun:
    """The playbook's actions rendered for this incident; nothing runs."""
    steps = service.dry_run(session=session, policy=policy, incident=incident, name=name)
    return DryRun(
        playbook=name,
        incident=format_incident_id(incident.number),
        steps=[
            PlannedStep(
                name=s.name, kind=s.kind, display=s.display, condition=s.condition, error=s.error
            )
            for s in steps
        ],
    )


def _read(session: SessionDep, incident: CurrentIncident, run_id: int) -> RunRead:
    items = service.list_runs(session=session, incident=incident, kind=RunKind.playbook)
    return next(item for item in items if item.id == run_id)


@router.post("/api/v1/incidents/{incident_id}/playbooks/{name}/propose", status_code=201)
def propose(
    name: str,
    principal: Responder,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
) -> RunRead:
    """Propose the playbook for this incident (again, after a decline or a failure)."""
    run = service.propose(
        session=session,
        policy=policy,
        incident=incident,
        name=name,
        actor=principal.actor,
        now=clock.now(),
    )
    return _read(session, incident, run.id)


def _decide(
    decision: str,
    name: str,
    principal: Principal,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
) -> RunRead:
    act = service.approve if decision == "approve" else service.decline
    try:
        run = act(
            session=session,
            policy=policy,
            incident=incident,
            name=name,
            actor=principal.actor,
            person=principal.person,
            admin=principal.role.allows(Role.admin),
            now=clock.now(),
        )
    except service.NotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    return _read(session, incident, run.id)


@router.post("/api/v1/incidents/{incident_id}/playbooks/{name}/approve")
def approve(
    name: str,
    principal: Responder,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
) -> RunRead:
    """Approve the waiting proposal: its actions run in order (commander or admin only)."""
    return _decide("approve", name, principal, incident, session, policy, clock)


@router.post("/api/v1/incidents/{incident_id}/playbooks/{name}/decline")
def decline(
    name: str,
    principal: Responder,
    incident: CurrentIncident,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
) -> RunRead:
    """Decline the waiting proposal; it is not proposed again by itself."""
    return _decide("decline", name, principal, incident, session, policy, clock)
