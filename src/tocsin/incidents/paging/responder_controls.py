"""What a responder can do to the paging of an open incident: escalate now, re-page the
current tier, or page one chosen person (reassign). Each runs in the caller's
transaction and leaves its pages in the outbox and its timers as jobs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs
from tocsin.errors import InvalidInput
from tocsin.incidents import hooks
from tocsin.incidents.models import Incident
from tocsin.incidents.paging.escalation import (
    page_from,
    page_people,
    page_subject,
    require_active,
    require_escalation,
)
from tocsin.incidents.paging.staleness import EscalationState
from tocsin.incidents.paging.timers import JobKeys, schedule_escalation
from tocsin.incidents.timeline import record
from tocsin.notify.models import NotificationKind
from tocsin.oncall.escalation import escalation_step
from tocsin.policy import Policy

__all__ = ["escalate_now", "reassign", "repage"]


def escalate_now(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    actor: str,
    tier: int | None = None,
    reason: str = "manual escalation",
) -> list[str]:
    """Page the next tier (or tier `tier`, 1-based, of the current round) at once."""
    require_active(incident)
    esc, ep = require_escalation(session, policy, incident, now)
    if ep is None:
        record(
            session=session,
            incident=incident,
            now=now,
            actor=actor,
            kind="escalation_missing",
            summary="Cannot escalate: no escalation policy applies to this incident",
        )
        return []
    tiers = len(ep.tiers)
    if tier is not None and tier > tiers:
        raise InvalidInput("tier", f"{ep.name} has {tiers} tiers")
    if tier is not None:
        round_ = max(esc.step, 0) // tiers
        number = round_ * tiers + (tier - 1)
    else:
        number = esc.step + 1
    cancel_jobs(session=session, key_prefix=JobKeys(incident.id, esc.epoch).escalations, now=now)
    esc.repages += 1
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind="escalated",
        summary=f"Escalated by {actor}: {reason}",
        data={"reason": reason, "to_step": number},
    )
    if esc.state in (EscalationState.exhausted, EscalationState.stopped):
        esc.state = EscalationState.active
    hooks.REGISTRY.run(
        hooks.IncidentEvent.escalated,
        session=session,
        policy=policy,
        incident=incident,
        actor=actor,
        now=now,
    )
    return page_from(session, policy, incident, esc, ep, number, now, trigger=reason)


def repage(
    *, session: Session, policy: Policy, incident: Incident, now: datetime, actor: str
) -> list[str]:
    """Page the current tier again and restart its timeout."""
    require_active(incident)
    esc, ep = require_escalation(session, policy, incident, now)
    if ep is None or esc.step < 0:
        return escalate_now(
            session=session,
            policy=policy,
            incident=incident,
            now=now,
            actor=actor,
            reason="re-page",
        )
    cancel_jobs(session=session, key_prefix=JobKeys(incident.id, esc.epoch).escalations, now=now)
    esc.repages += 1
    return page_from(
        session, policy, incident, esc, ep, esc.step, now, trigger=f"re-paged by {actor}"
    )


def reassign(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    person: str,
    now: datetime,
    actor: str,
    note: str | None = None,
) -> None:
    """Page one chosen person now; if they do not acknowledge, the escalation goes on.
    ``note`` (why them, what to look at) is part of the page and of the timeline."""
    if policy.person(person) is None:
        raise InvalidInput("person", f"unknown person {person!r}")
    require_active(incident)
    esc, ep = require_escalation(session, policy, incident, now)
    esc.repages += 1
    keys = JobKeys(incident.id, esc.epoch)
    note = note.strip() if note else None
    reason = f"reassigned to {person} by {actor}" + (f": {note}" if note else "")
    page_people(
        session,
        incident,
        [person],
        now,
        kind=NotificationKind.page,
        key=keys.reassign(esc.repages),
        subject=page_subject(incident),
        reason=reason,
    )
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind="reassigned",
        summary=f"Reassigned to {person}" + (f": {note}" if note else ""),
        data={"person": person, **({"note": note} if note else {})},
    )
    cancel_jobs(session=session, key_prefix=keys.escalations, now=now)
    if ep is not None:
        step = escalation_step(ep, max(esc.step, 0))
        timeout = step.timeout if step else policy.severity(incident.severity).escalate_after
        schedule_escalation(session, incident, esc, max(esc.step, 0) + 1, now + timeout, now)
