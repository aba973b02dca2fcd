"""The incident page's buttons and forms. Each goes through the service the REST API
uses, as the signed-in user (their policy person on the timeline), then redirects back
to the incident page with a message (Post/Redirect/Get); a refused action is shown as
that message and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from tocsin.checklists import service as checklists
from tocsin.db import session_scope
from tocsin.errors import InvalidInput, TocsinError
from tocsin.incidents import paging, service
from tocsin.incidents.models import Incident, IncidentUpdate, StatusUpdateCreate
from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.policy import Policy
from tocsin.web.dashboard.csrf import FormData, SignedForm
from tocsin.web.dashboard.session import Responder
from tocsin.web.dashboard.views import redirect_with
from tocsin.web.deps import ContextDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["Action", "IncidentRef", "first_value", "router", "run_action"]

router = APIRouter(
    route_class=RequestThreadRoute, prefix="/dashboard/incidents", include_in_schema=False
)

IncidentRef = Annotated[str, Path(max_length=40)]
ItemNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: One button's work on the incident (read in the action's transaction, with its INC-n).
Action = Callable[[Session, Policy, Incident, str], str]


def _first(form: FormData, name: str) -> str:
    return (form.get(name) or [""])[0]


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ())) or "form"
        problems.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def run_action(request: Request, context: ContextDep, ref: str, action: Action) -> RedirectResponse:
    """Run ``action`` in its own transaction; any refusal rolls it back entirely."""
    policy = context.policy.current
    target = f"/dashboard/incidents/{ref}"
    try:
        with session_scope(context.sessions) as session:
            incident = service.get(session=session, ref=ref)
            ref = format_incident_id(incident.number)
            target = f"/dashboard/incidents/{ref}"
            message = action(session, policy, incident, ref)
    except TocsinError as exc:
        return redirect_with(request, target, "error", str(exc))
    except ValidationError as exc:
        return redirect_with(request, target, "error", _explain(exc))
    except DataError:
        return redirect_with(request, target, "error", "a value cannot be stored: invalid text")
    return redirect_with(request, target, "ok", message)


#: For the other modules of the incident page's buttons.
first_value = _first


@router.post("/{incident_id}/acknowledge")
def acknowledge(
    request: Request, incident_id: IncidentRef, context: ContextDep, user: Responder, _f: SignedForm
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        service.acknowledge(
            session=session,
            policy=policy,
            incident=incident,
            actor=user.principal.actor,
            now=context.clock.now(),
        )
        return f"{ref} acknowledged."

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/escalate")
def escalate(
    request: Request, incident_id: IncidentRef, context: ContextDep, user: Responder, _f: SignedForm
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        paging.escalate_now(
            session=session,
            policy=policy,
            incident=incident,
            now=context.clock.now(),
            actor=user.principal.actor,
            tier=None,
            reason="next tier",
        )
        return f"{ref} escalated to the next tier."

    return run_action(request, context, incident_id, act)


def _transition(target: IncidentStatus, done: str) -> Callable[..., RedirectResponse]:
    def move(
        request: Request,
        incident_id: IncidentRef,
        context: ContextDep,
        user: Responder,
        _f: SignedForm,
    ) -> RedirectResponse:
        def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
            service.transition(
                session=session,
                policy=policy,
                incident=incident,
                actor=user.principal.actor,
                target=target,
                now=context.clock.now(),
            )
            return f"{ref} {done}."

        return run_action(request, context, incident_id, act)

    return move


router.post("/{incident_id}/resolve", name="dashboard_resolve")(
    _transition(IncidentStatus.resolved, "resolved")
)
router.post("/{incident_id}/close", name="dashboard_close")(
    _transition(IncidentStatus.closed, "closed")
)
router.post("/{incident_id}/reopen", name="dashboard_reopen")(
    _transition(IncidentStatus.triggered, "reopened")
)


@router.post("/{incident_id}/updates")
def post_update(
    request: Request,
    incident_id: IncidentRef,
    context: ContextDep,
    user: Responder,
    form: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        data = StatusUpdateCreate(
            message=_first(form, "message"),
            public=_first(form, "public") in ("on", "true", "1"),
            status=_first(form, "status") or None,
        )
        update = service.post_update(
            session=session,
            policy=policy,
            incident=incident,
            actor=user.principal.actor,
            data=data,
            now=context.clock.now(),
        )
        return f"{'Public' if update.public else 'Internal'} update posted to {ref}."

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/severity")
def change_severity(
    request: Request,
    incident_id: IncidentRef,
    context: ContextDep,
    user: Responder,
    form: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        changes = IncidentUpdate(severity=_first(form, "severity"))
        service.edit(
            session=session,
            policy=policy,
            incident=incident,
            actor=user.principal.actor,
            changes=changes,
            now=context.clock.now(),
        )
        return f"{ref} is now {incident.severity}."

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/roles")
def assign_role(
    request: Request,
    incident_id: IncidentRef,
    context: ContextDep,
    user: Responder,
    form: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        role, person = _first(form, "role").strip(), _first(form, "person").strip()
        if not role:
            raise InvalidInput("role", "choose a role")
        changes = IncidentUpdate(roles={role: person or None})
        service.edit(
            session=session,
            policy=policy,
            incident=incident,
            actor=user.principal.actor,
            changes=changes,
            now=context.clock.now(),
        )
        return f"{person} assigned as {role}." if person else f"{role} cleared."

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/tasks/{number}/done")
def tick_task(
    request: Request,
    incident_id: IncidentRef,
    number: ItemNumber,
    context: ContextDep,
    user: Responder,
    _f: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        item = checklists.settle(
            session=session,
            incident=incident,
            number=number,
            actor=user.principal.actor,
            now=context.clock.now(),
        )
        return f"Ticked {item.number}. {item.text}"

    return run_action(request, context, incident_id, act)


@router.post("/{incident_id}/tasks/{number}/skip")
def skip_task(
    request: Request,
    incident_id: IncidentRef,
    number: ItemNumber,
    context: ContextDep,
    user: Responder,
    form: SignedForm,
) -> RedirectResponse:
    def act(session: Session, policy: Policy, incident: Incident, ref: str) -> str:
        item = checklists.settle(
            session=session,
            incident=incident,
            number=number,
            actor=user.principal.actor,
            now=context.clock.now(),
            skip_reason=_first(form, "reason"),
        )
        return f"Skipped {item.number}. {item.text}"

    return run_action(request, context, incident_id, act)
