"""Starting an incident's escalation and paging its tiers.

Runs inside the caller's transaction: the escalation row, the pages (outbox) and the next
step's timer commit with the change that caused them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tocsin.errors import Conflict
from tocsin.incidents.drills import is_drill, mark_subject, pages_only_its_responders
from tocsin.incidents.models import Incident, IncidentEscalation, IncidentRole
from tocsin.incidents.paging.staleness import EscalationState, is_active
from tocsin.incidents.paging.timers import (
    JobKeys,
    schedule_ack_sla,
    schedule_escalation,
    schedule_stakeholders,
    schedule_update_reminder,
)
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.oncall.escalation import (
    choose_commander,
    choose_escalation_policy,
    escalation_step,
    resolve_targets,
)
from tocsin.oncall.rules import Override
from tocsin.oncall.service import overrides_by_schedule
from tocsin.policy import Policy, format_duration
from tocsin.policy.oncall import EscalationPolicy

__all__ = [
    "assign_commander",
    "fmt",
    "overrides",
    "page_from",
    "page_people",
    "page_subject",
    "require_active",
    "require_escalation",
    "start",
]


@event.listens_for(Session, "after_transaction_end")
def _forget_overrides(session: Session, transaction: Any) -> None:
    # Only when the whole transaction ends: the savepoint each alert of a batch runs in
    # ends too, and the overrides read a moment before are as true after it.
    if transaction.parent is None:
        session.info.pop("tocsin_overrides", None)


def overrides(session: Session, now: datetime) -> Mapping[str, Sequence[Override]]:
    """The on-call overrides in force at ``now``, read once per transaction and moment
    (a webhook that opens many incidents pages all of them at the same instant)."""
    cache: dict[datetime, Mapping[str, Sequence[Override]]] = session.info.setdefault(
        "tocsin_overrides", {}
    )
    found = cache.get(now)
    if found is None:
        found = cache[now] = overrides_by_schedule(
            session=session, start=now, end=now + timedelta(microseconds=1)
        )
    return found


def start(
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    chosen: str | None = None,
    *,
    new: bool = False,
) -> None:
    """Start (or restart, in a new epoch) the escalation: page tier 1, set every timer.

    `new`: the incident was created in this transaction, so it has no escalation yet
    (saves a flush and a lookup per incident when a webhook opens hundreds)."""
    esc = None if new else session.get(IncidentEscalation, incident.id)
    if chosen is None and esc is not None and esc.policy is not None:
        chosen = esc.policy  # a restart (reopen) keeps the policy the incident was opened with
    ep = policy.escalation_policy(chosen) if chosen else None
    if ep is None and not pages_only_its_responders(incident):
        ep = choose_escalation_policy(
            policy, service=_routing_service(policy, incident), severity=incident.severity
        )
    if esc is None:
        esc = IncidentEscalation(
            incident_id=incident.id,
            epoch=1,
            started_at=now,
            updated_at=now,
            state=EscalationState.active,
            repages=0,
        )
        session.add(esc)
    else:
        esc.epoch += 1
        esc.started_at = now
        esc.repages = 0
    esc.policy = ep.name if ep else None
    esc.step = -1
    esc.state = EscalationState.active if ep else EscalationState.unrouted
    esc.updated_at = now
    if pages_only_its_responders(incident):
        _page_drill_responders(session, incident, esc, now)
    elif ep is None:
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="escalation_missing",
            summary="No escalation policy applies to this incident: nobody was paged",
            data={"services": sorted(s.service for s in incident.services)},
        )
    else:
        page_from(session, policy, incident, esc, ep, 0, now, trigger="incident triggered")
    schedule_stakeholders(session, policy, incident, esc, now)
    schedule_ack_sla(session, policy, incident, esc, now)
    schedule_update_reminder(session, policy, incident, since=now, now=now, fresh=esc.epoch == 1)


def _page_drill_responders(
    session: Session, incident: Incident, esc: IncidentEscalation, now: datetime
) -> None:
    """Page the drill's responders once (no escalation policy climbs for them)."""
    people = list(incident.drill_responders or ())
    esc.state = EscalationState.active if people else EscalationState.unrouted
    if not people:
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="escalation_missing",
            summary="A drill with no responders named: nobody was paged",
            data={"drill": True},
        )
        return
    reason = "named in the drill"
    page_people(
        session,
        incident,
        people,
        now,
        kind=NotificationKind.page,
        key=JobKeys(incident.id, esc.epoch).page(0, esc.repages),
        subject=page_subject(incident),
        reason=reason,
    )
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="paged",
        summary=f"Paged {', '.join(people)}: {reason}",
        data={"people": people, "drill": True, "reason": reason},
    )


def page_from(
    session: Session,
    policy: Policy,
    incident: Incident,
    esc: IncidentEscalation,
    ep: EscalationPolicy,
    number: int,
    now: datetime,
    *,
    trigger: str,
) -> list[str]:
    """Page step `number`, skipping tiers that reach nobody; set the next step's timer."""
    in_force = overrides(session, now)
    while True:
        step = escalation_step(ep, number)
        if step is None:
            esc.state = EscalationState.exhausted
            esc.next_escalation_at = None
            record(
                session=session,
                incident=incident,
                now=now,
                actor=SYSTEM_ACTOR,
                kind="escalation_exhausted",
                summary=f"Escalation policy {ep.name} exhausted: nobody acknowledged",
                data={"policy": ep.name},
            )
            return []
        esc.step = number
        where = f"tier {step.tier_index + 1} of {ep.name}"
        if ep.repeat:
            where += f", round {step.round + 1} of {ep.repeat + 1}"
        people = resolve_targets(policy, step.tier.targets, now, in_force)
        if people:
            page_people(
                session,
                incident,
                people,
                now,
                kind=NotificationKind.page,
                key=JobKeys(incident.id, esc.epoch).page(number, esc.repages),
                subject=page_subject(incident),
                reason=f"{where} ({trigger})",
            )
            record(
                session=session,
                incident=incident,
                now=now,
                actor=SYSTEM_ACTOR,
                kind="paged",
                summary=f"Paged {', '.join(people)}: {where} ({trigger})",
                data={
                    "people": people,
                    "policy": ep.name,
                    "tier": step.tier_index + 1,
                    "round": step.round + 1,
                    "step": number,
                    "reason": trigger,
                },
            )
            schedule_escalation(session, incident, esc, number + 1, now + step.timeout, now)
            return people
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="tier_unreachable",
            summary=f"{where.capitalize()} reaches nobody now; paging the next tier",
            data={"policy": ep.name, "tier": step.tier_index + 1, "step": number},
        )
        number += 1


def page_people(
    session: Session,
    incident: Incident,
    people: Sequence[str],
    now: datetime,
    *,
    kind: NotificationKind,
    key: str,
    subject: str,
    reason: str,
) -> None:
    """Queue one page per person; ``key`` (from :class:`JobKeys`) is the base of their keys."""
    for person in people:
        enqueue(
            session=session,
            key=f"{key}/{person}",
            person=person,
            kind=kind,
            subject=subject,
            body=_page_body(incident, reason),
            reason=reason,
            now=now,
            incident_id=incident.id,
            data={"incident": format_incident_id(incident.number), "severity": incident.severity},
            lane=incident.lane,
        )


def assign_commander(session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    if any(r.role == "commander" for r in incident.roles) or pages_only_its_responders(incident):
        return
    person, reason = choose_commander(
        policy,
        severity_rank=incident.severity_rank,
        tags=list(incident.tags),
        services=[s.service for s in incident.services],
        at=now,
        overrides_by_schedule=overrides(session, now),
    )
    if person is None:
        if policy.commander_assignment is None:
            return
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="commander_unassigned",
            summary=f"No commander could be chosen automatically: {reason}",
        )
        return
    incident.roles.append(
        IncidentRole(role="commander", person=person, assigned_at=now, assigned_by=SYSTEM_ACTOR)
    )
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="role_assigned",
        summary=f"{person} assigned as commander ({reason})",
        data={"role": "commander", "people": [person], "previous": [], "reason": reason},
    )


def require_escalation(
    session: Session, policy: Policy, incident: Incident, now: datetime
) -> tuple[IncidentEscalation, EscalationPolicy | None]:
    """The incident's escalation (started now if it has none) and its policy, if any."""
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None:
        start(session, policy, incident, now)
        esc = session.get(IncidentEscalation, incident.id)
        assert esc is not None
    ep = policy.escalation_policy(esc.policy) if esc.policy else None
    return esc, ep


def require_active(incident: Incident) -> None:
    if not is_active(incident.status):
        raise Conflict(
            f"{format_incident_id(incident.number)} is {incident.status}; only an open "
            "incident can be escalated or re-paged"
        )


def page_subject(incident: Incident) -> str:
    subject = f"[{incident.severity}] {format_incident_id(incident.number)}: {incident.title}"
    return mark_subject(subject) if is_drill(incident) else subject


def fmt(delta: timedelta) -> str:
    return format_duration(delta) if delta > timedelta(0) else "0s"


def _routing_service(policy: Policy, incident: Incident) -> str | None:
    """The service whose escalation policy pages: the first affected one that has one."""
    names = [s.service for s in incident.services]
    for name in names:
        service = policy.service(name)
        if service is not None and service.escalation_policy:
            return name
    return names[0] if names else None


def _page_body(incident: Incident, reason: str) -> str:
    services = ", ".join(s.service for s in incident.services) or "no service named"
    return (
        f"{format_incident_id(incident.number)} {incident.severity} {incident.status}\n"
        f"{incident.title}\nServices: {services}\nWhy you: {reason}"
    )
