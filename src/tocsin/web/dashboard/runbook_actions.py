"""The incident page's diagnostics and playbook buttons: run the policy's collectors,
approve or decline a proposed playbook (the commander or an admin), as the signed-in
user, through the services the REST API uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from tocsin.auth import Role
from tocsin.incidents.models import Incident
from tocsin.policy import Policy
from tocsin.runbooks import service as runbooks
from tocsin.web.dashboard.actions import IncidentRef, first_value, run_action
from tocsin.web.dashboard.csrf import SignedForm
from tocsin.web.dashboard.session import Responder
from tocsin.web.deps import ContextDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(
    route_class=RequestThreadRoute, prefix="/dashboard/incidents", include_in_schema=False
)

PlaybookName = Annotated[str, Path(max_length=100)]


@router.post("/{incident_id}/diagnostics")
def diagnose(
    request: Request,
    incident_id: IncidentRef,
    context: ContextDep,
    user: Responder,
    form: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        runs = runbooks.request_diagnostics(
            session=session,
            policy=policy,
            incident=incident,
            actor=user.principal.actor,
            collector=first_value(form, "collector").strip() or None,
            now=context.clock.now(),
        )
        return f"Diagnostics queued for {ref}: {', '.join(r.name for r in runs)}."

    return run_action(request, context, incident_id, act)


def _decide(decision: str) -> Callable[..., RedirectResponse]:
    def decide(
        request: Request,
        incident_id: IncidentRef,
        name: PlaybookName,
        context: ContextDep,
        user: Responder,
        _f: SignedForm,
    ) -> RedirectResponse:
        def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
            use = runbooks.approve if decision == "approve" else runbooks.decline
            use(
                session=session,
                policy=policy,
                incident=incident,
                name=name,
                actor=user.principal.actor,
                person=user.principal.person,
                admin=user.role.allows(Role.admin),
                now=context.clock.now(),
            )
            done = "approved: its actions run now" if decision == "approve" else "declined"
            return f"Playbook {name} {done}."

        return run_action(request, context, incident_id, act)

    return decide


router.post("/{incident_id}/playbooks/{name}/approve", name="dashboard_playbook_approve")(
    _decide("approve")
)
router.post("/{incident_id}/playbooks/{name}/decline", name="dashboard_playbook_decline")(
    _decide("decline")
)
