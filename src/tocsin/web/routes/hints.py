"""An incident's root-cause hints: ``GET /api/v1/incidents/{incident_id}/hints`` (with
its downstream links and recent changes), and a responder's verdict on one hint:
``POST .../hints/{hint_id}/confirm`` or ``.../reject``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tocsin.hints import service as hints
from tocsin.hints.models import HintRead, IncidentHints
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

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1/incidents", tags=["hints"])

HintId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The hint's id.")]


@router.get("/{incident_id}/hints")
def incident_hints(
    session: SessionDep,
    policy: CurrentPolicy,
    _principal: Viewer,
    incident: CurrentIncident,
) -> IncidentHints:
    """The ranked hints (confirmed first, ruled-out last), the incidents this one is
    downstream of and those downstream of it, and the recent changes."""
    return hints.overview(session=session, policy=policy, incident=incident)


@router.post("/{incident_id}/hints/{hint_id}/confirm")
def confirm_hint(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
    hint_id: HintId,
) -> HintRead:
    """This hint is the cause: the post-mortem's root-cause category follows it."""
    hint = hints.decide(
        session=session,
        policy=policy,
        incident=incident,
        hint_id=hint_id,
        confirm=True,
        actor=principal.actor,
        now=clock.now(),
    )
    return hints.to_read(hint)


@router.post("/{incident_id}/hints/{hint_id}/reject")
def reject_hint(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
    hint_id: HintId,
) -> HintRead:
    """This hint is ruled out (it stays visible as such)."""
    hint = hints.decide(
        session=session,
        policy=policy,
        incident=incident,
        hint_id=hint_id,
        confirm=False,
        actor=principal.actor,
        now=clock.now(),
    )
    return hints.to_read(hint)
