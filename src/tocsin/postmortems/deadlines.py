"""Post-mortem due dates as engine jobs, and the reminders they send when one is missed.

Each post-mortem gets three jobs (`postmortem_due`, one per stage) in the transaction that
creates it. When a job fires and its stage is not met, the owner is reminded through the
outbox, the incident's timeline says so, and the post-mortem keeps the time it first fell
behind (`overdue_since`). A job whose stage was met meanwhile does nothing. Whether a
post-mortem *is* overdue is computed from its due dates at read time, so the API is right
even while no worker runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs, schedule
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.policy import Policy
from tocsin.postmortems.models import Postmortem
from tocsin.postmortems.rules import (
    DEADLINES,
    PostmortemStatus,
    Stage,
    format_postmortem_id,
    format_span,
    stage_met,
)

__all__ = [
    "DUE_JOB",
    "cancel_deadlines",
    "due_dates",
    "handle_due_job",
    "notify",
    "schedule_deadlines",
]

DUE_JOB = "postmortem_due"


class JobContext(Protocol):
    """What a job handler is given (the engine's `EngineContext` has this shape)."""

    @property
    def policy(self) -> Policy: ...

    @property
    def now(self) -> datetime: ...


def _prefix(pm: Postmortem) -> str:
    return f"pm:{pm.id}/"


def due_dates(pm: Postmortem) -> dict[Stage, datetime | None]:
    return {
        Stage.draft: pm.draft_due_at,
        Stage.review: pm.review_due_at,
        Stage.publish: pm.publish_due_at,
    }


def schedule_deadlines(*, session: Session, pm: Postmortem, base: datetime, now: datetime) -> None:
    """Set the due dates from `base` and a job for each, in the caller's transaction."""
    pm.draft_due_at = base + DEADLINES[Stage.draft]
    pm.review_due_at = base + DEADLINES[Stage.review]
    pm.publish_due_at = base + DEADLINES[Stage.publish]
    for stage, at in due_dates(pm).items():
        assert at is not None
        schedule(
            session=session,
            kind=DUE_JOB,
            due_at=at,
            payload={"postmortem_id": pm.id, "stage": stage.value},
            key=f"{_prefix(pm)}due/{stage.value}",
            now=now,
        )


def cancel_deadlines(*, session: Session, pm: Postmortem, now: datetime) -> None:
    cancel_jobs(session=session, key_prefix=_prefix(pm), now=now, kinds=(DUE_JOB,))


def recipients(policy: Policy, pm: Postmortem, incident: Incident) -> list[str]:
    """The owner; with none, the leads of the teams owning the incident's services."""
    if pm.owner:
        return [pm.owner]
    leads: list[str] = []
    for name in sorted(s.service for s in incident.services):
        service = policy.service(name)
        team = policy.team(service.team) if service and service.team else None
        if team and team.lead and team.lead not in leads:
            leads.append(team.lead)
    return leads


def notify(
    *,
    session: Session,
    pm: Postmortem,
    incident: Incident,
    person: str,
    key: str,
    subject: str,
    reason: str,
    now: datetime,
) -> None:
    ref, inc = format_postmortem_id(pm.number), format_incident_id(incident.number)
    enqueue(
        session=session,
        key=f"{_prefix(pm)}{key}/{person}",
        person=person,
        kind=NotificationKind.postmortem,
        subject=subject,
        body=f"{subject}\n\n{inc}: {incident.title}\nPost-mortem {ref} ({pm.status}).\n{reason}",
        reason=reason,
        now=now,
        incident_id=incident.id,
        data={"postmortem": ref, "incident": inc},
    )


_STAGE_TEXT = {
    Stage.draft: "the draft (root cause written)",
    Stage.review: "the review",
    Stage.publish: "publishing",
}


def handle_due_job(session: Session, context: JobContext, payload: Mapping[str, Any]) -> str:
    """A stage's due time came: remind the owner unless the stage was met."""
    pm = session.get(Postmortem, int(payload["postmortem_id"]))
    if pm is None:
        return "gone"
    stage = Stage(str(payload["stage"]))
    if stage_met(stage, status=PostmortemStatus(pm.status), root_cause_written=bool(pm.drafted_at)):
        return "met"
    incident = incidents.get_by_id(session=session, incident_id=pm.incident_id)
    if incident is None:
        return "gone"
    now = context.now
    if pm.overdue_since is None:
        pm.overdue_since = now
    due = due_dates(pm)[stage]
    ref = format_postmortem_id(pm.number)
    late = f" (due {due:%Y-%m-%d %H:%M} UTC, {format_span(now - due)} ago)" if due else ""
    reason = f"{_STAGE_TEXT[stage]} of post-mortem {ref} is overdue{late}"
    people = recipients(context.policy, pm, incident)
    for person in people:
        notify(
            session=session,
            pm=pm,
            incident=incident,
            person=person,
            key=f"overdue/{stage.value}",
            subject=f"Post-mortem {ref} for {format_incident_id(incident.number)} is overdue: "
            f"{stage.value}",
            reason=reason,
            now=now,
        )
    who = f"reminded {', '.join(people)}" if people else "nobody to remind (no owner)"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="postmortem_overdue",
        summary=f"Post-mortem {ref}: {reason}; {who}",
        data={"postmortem": ref, "stage": stage.value, "people": people},
    )
    return "reminded"
