"""The incident page's hint buttons: a responder confirms a hint as the cause, or rules
it out. Each goes through the service the REST API uses, as the signed-in user, and
redirects back to the incident page with a message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from tocsin.hints import service as hints
from tocsin.incidents.models import Incident
from tocsin.policy import Policy
from tocsin.web.dashboard.actions import IncidentRef, run_action
from tocsin.web.dashboard.csrf import SignedForm
from tocsin.web.dashboard.session import Responder
from tocsin.web.deps import ContextDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(
    route_class=RequestThreadRoute, prefix="/dashboard/incidents", include_in_schema=False
)

HintRef = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _decide(
    request: Request,
    incident_id: str,
    hint_id: int,
    context: ContextDep,
    user: Responder,
    *,
    confirm: bool,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        hint = hints.decide(
            session=session,
            policy=policy,
            incident=incident,
            hint_id=hint_id,
            confirm=confirm,
            actor=user.principal.actor,
            now=context.clock.now(),
        )
        verdict = "confirmed as the cause" if confirm else "ruled out"
        return f"{ref}: hint {verdict}: {hint.explanation}"

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/hints/{hint_id}/confirm")
def confirm(
    request: Request,
    incident_id: IncidentRef,
    hint_id: HintRef,
    context: ContextDep,
    user: Responder,
    _f: SignedForm,
) -> RedirectResponse:
    return _decide(request, incident_id, hint_id, context, user, confirm=True)


@router.post("/{incident_id}/hints/{hint_id}/reject")
def reject(
    request: Request,
    incident_id: IncidentRef,
    hint_id: HintRef,
    context: ContextDep,
    user: Responder,
    _f: SignedForm,
) -> RedirectResponse:
    return _decide(request, incident_id, hint_id, context, user, confirm=False)
