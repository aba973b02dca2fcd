"""Paging and escalation of one incident: who is paged, when, and why.

Every function runs inside the caller's transaction and leaves its timers as jobs
(`tocsin.db.jobs`) and its messages in the outbox (`tocsin.notify`), so a page that was
decided commits with the state change that decided it. Job keys carry the incident id and
the escalation's epoch; a timer from an earlier epoch, or for a step that is no longer
next, is stale and does nothing when it fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs, schedule
from tocsin.errors import Conflict, InvalidInput
from tocsin.incidents.models import Incident, IncidentEscalation, IncidentRole, StatusUpdate
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import cancel_pending, enqueue
from tocsin.oncall.escalation import (
    choose_commander,
    choose_escalation_policy,
    escalation_step,
    resolve_targets,
    stakeholder_steps,
)
from tocsin.oncall.rules import Override
from tocsin.oncall.service import overrides_by_schedule
from tocsin.policy import Policy, format_duration
from tocsin.policy.oncall import EscalationPolicy

__all__ = [
    "ACK_SLA",
    "ESCALATE",
    "STAKEHOLDER",
    "UPDATE_REMINDER",
    "escalate_now",
    "handle_ack_sla",
    "handle_escalate",
    "handle_stakeholder",
    "handle_update_reminder",
    "on_acknowledged",
    "on_declared",
    "on_reopened",
    "on_resolved",
    "on_severity_changed",
    "on_status_update",
    "reassign",
    "repage",
]

ESCALATE = "escalate"
STAKEHOLDER = "stakeholder"
ACK_SLA = "ack_sla"
UPDATE_REMINDER = "update_reminder"

_ACTIVE = {s.value for s in ACTIVE_STATUSES}


class EscalationState:
    active = "active"
    acknowledged = "acknowledged"
    exhausted = "exhausted"
    stopped = "stopped"
    unrouted = "unrouted"


def _prefix(incident: Incident) -> str:
    return f"inc:{incident.id}/"


def _epoch_prefix(incident: Incident, epoch: int) -> str:
    return f"inc:{incident.id}/e{epoch}/"


@event.listens_for(Session, "after_transaction_end")
def _forget_overrides(session: Session, _transaction: Any) -> None:
    session.info.pop("tocsin_overrides", None)


def _overrides(session: Session, now: datetime) -> Mapping[str, Sequence[Override]]:
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


# ---------------------------------------------------------------- lifecycle hooks


def on_declared(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    escalation_policy: str | None = None,
) -> None:
    """A new incident: assign a commander, page tier 1 and set every timer."""
    _assign_commander(session, policy, incident, now)
    _start(session, policy, incident, now, chosen=escalation_policy)


def on_reopened(*, session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    _start(session, policy, incident, now)


def on_acknowledged(*, session: Session, incident: Incident, now: datetime) -> None:
    """Acknowledging stops the climb; the stakeholder matrix and reminders go on."""
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None:
        return
    prefix = _epoch_prefix(incident, esc.epoch)
    cancel_jobs(session, key_prefix=prefix + "escalate/", now=now)
    cancel_jobs(session, key_prefix=prefix + "ack-sla/", now=now)
    cancel_pending(session, incident_id=incident.id, kinds=[NotificationKind.page])
    if esc.state == EscalationState.active:
        esc.state = EscalationState.acknowledged
    esc.next_escalation_at = None
    esc.updated_at = now


def on_resolved(*, session: Session, incident: Incident, now: datetime) -> None:
    """Resolving cancels everything still pending for the incident."""
    cancel_jobs(session, key_prefix=_prefix(incident), now=now)
    cancel_pending(
        session,
        incident_id=incident.id,
        kinds=[NotificationKind.page, NotificationKind.stakeholder, NotificationKind.reminder],
    )
    esc = session.get(IncidentEscalation, incident.id)
    if esc is not None:
        esc.state = EscalationState.stopped
        esc.next_escalation_at = None
        esc.updated_at = now


def on_severity_changed(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> None:
    """The stakeholder matrix, the response SLA and the update cadence follow the severity."""
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None or incident.status not in _ACTIVE:
        return
    prefix = _epoch_prefix(incident, esc.epoch)
    cancel_jobs(session, key_prefix=prefix + "stakeholder/", now=now)
    _schedule_stakeholders(session, policy, incident, esc, now)
    if incident.status == IncidentStatus.triggered:
        cancel_jobs(session, key_prefix=prefix + "ack-sla/", now=now)
        _schedule_ack_sla(session, policy, incident, esc, now)
    _schedule_update_reminder(session, policy, incident, since=now, now=now)


def on_status_update(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> None:
    if incident.status in _ACTIVE:
        _schedule_update_reminder(session, policy, incident, since=now, now=now)


# ---------------------------------------------------------------- responder controls


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
    _require_active(incident)
    esc, ep = _require_escalation(session, policy, incident, now)
    if ep is None:
        record(
            session,
            incident,
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
    cancel_jobs(session, key_prefix=_epoch_prefix(incident, esc.epoch) + "escalate/", now=now)
    esc.repages += 1
    record(
        session,
        incident,
        now=now,
        actor=actor,
        kind="escalated",
        summary=f"Escalated by {actor}: {reason}",
        data={"reason": reason, "to_step": number},
    )
    if esc.state in (EscalationState.exhausted, EscalationState.stopped):
        esc.state = EscalationState.active
    return _page_from(session, policy, incident, esc, ep, number, now, trigger=reason)


def repage(
    *, session: Session, policy: Policy, incident: Incident, now: datetime, actor: str
) -> list[str]:
    """Page the current tier again and restart its timeout."""
    _require_active(incident)
    esc, ep = _require_escalation(session, policy, incident, now)
    if ep is None or esc.step < 0:
        return escalate_now(
            session=session,
            policy=policy,
            incident=incident,
            now=now,
            actor=actor,
            reason="re-page",
        )
    cancel_jobs(session, key_prefix=_epoch_prefix(incident, esc.epoch) + "escalate/", now=now)
    esc.repages += 1
    return _page_from(
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
    _require_active(incident)
    esc, ep = _require_escalation(session, policy, incident, now)
    esc.repages += 1
    note = note.strip() if note else None
    reason = f"reassigned to {person} by {actor}" + (f": {note}" if note else "")
    _page_people(
        session,
        incident,
        esc,
        [person],
        now,
        kind=NotificationKind.page,
        key=f"reassign/{esc.repages}",
        subject=_page_subject(incident),
        reason=reason,
    )
    record(
        session,
        incident,
        now=now,
        actor=actor,
        kind="reassigned",
        summary=f"Reassigned to {person}" + (f": {note}" if note else ""),
        data={"person": person, **({"note": note} if note else {})},
    )
    cancel_jobs(session, key_prefix=_epoch_prefix(incident, esc.epoch) + "escalate/", now=now)
    if ep is not None:
        step = escalation_step(ep, max(esc.step, 0))
        timeout = step.timeout if step else policy.severity(incident.severity).escalate_after
        _schedule_escalation(session, incident, esc, max(esc.step, 0) + 1, now + timeout, now)


# ---------------------------------------------------------------- job handlers


def handle_escalate(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    esc = session.get(IncidentEscalation, incident.id)
    if (
        esc is None
        or esc.epoch != payload.get("epoch")
        or esc.state != EscalationState.active
        or incident.status != IncidentStatus.triggered
        or payload.get("step") != esc.step + 1
    ):
        return "stale"
    ep = policy.escalation_policy(esc.policy) if esc.policy else None
    if ep is None:
        record(
            session,
            incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="escalation_missing",
            summary=f"Escalation policy {esc.policy!r} is no longer in the policy",
        )
        return "missing"
    step = escalation_step(ep, esc.step)
    timeout = step.timeout if step else timedelta(0)
    _page_from(
        session,
        policy,
        incident,
        esc,
        ep,
        esc.step + 1,
        now,
        trigger=f"not acknowledged within {_fmt(timeout)}",
    )
    return "paged"


def handle_stakeholder(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    esc = session.get(IncidentEscalation, incident.id)
    if (
        esc is None
        or esc.epoch != payload.get("epoch")
        or incident.status not in _ACTIVE
        or incident.severity != payload.get("severity")
    ):
        return "stale"
    index = int(payload["index"])
    steps = stakeholder_steps(policy, incident.severity)
    if index >= len(steps):
        return "stale"
    step = steps[index]
    people = resolve_targets(policy, step.notify, now, _overrides(session, now))
    elapsed = _fmt(step.after)
    _page_people(
        session,
        incident,
        esc,
        people,
        now,
        kind=NotificationKind.stakeholder,
        key=f"stakeholder/{incident.severity}/{index}",
        subject=f"[{incident.severity}] {format_incident_id(incident.number)} "
        f"unresolved after {elapsed}: {incident.title}",
        reason=f"stakeholder matrix for {incident.severity}: informed at {elapsed}",
    )
    record(
        session,
        incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="stakeholders_notified",
        summary=f"Stakeholders informed ({elapsed} unresolved): "
        + (", ".join(people) or "nobody reachable"),
        data={"people": people, "after": elapsed, "severity": incident.severity},
    )
    return "notified"


def handle_ack_sla(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    esc = session.get(IncidentEscalation, incident.id)
    if (
        esc is None
        or esc.epoch != payload.get("epoch")
        or incident.status != IncidentStatus.triggered
        or incident.severity != payload.get("severity")
    ):
        return "stale"
    within = _fmt(policy.severity(incident.severity).respond_within)
    record(
        session,
        incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="sla_breached",
        summary=f"Response SLA breached: not acknowledged within {within} ({incident.severity})",
        data={"sla": "response", "within": within, "severity": incident.severity},
    )
    # Still on the first tier: nobody else has been asked yet, so ask now. Further up the
    # climb the escalation has already moved on and the breach is only recorded.
    if esc.state == EscalationState.active and esc.step == 0:
        escalate_now(
            session=session,
            policy=policy,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            reason=f"response SLA of {within} breached",
        )
    return "breached"


def handle_update_reminder(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    if incident.status not in _ACTIVE:
        return "stale"
    every = policy.severity(incident.severity).update_every
    last = session.scalar(
        select(StatusUpdate.created_at)
        .where(StatusUpdate.incident_id == incident.id)
        .order_by(StatusUpdate.created_at.desc())
        .limit(1)
    )
    since = max(last or incident.detected_at, incident.detected_at)
    if since + every > now:
        _schedule_update_reminder(session, policy, incident, since=since, now=now)
        return "not_due"
    people = [r.person for r in incident.roles if r.role == "comms_lead"]
    role = "comms lead"
    if not people:
        people = [r.person for r in incident.roles if r.role == "commander"]
        role = "commander"
    esc = session.get(IncidentEscalation, incident.id)
    overdue = _fmt(every)
    if people and esc is not None:
        _page_people(
            session,
            incident,
            esc,
            people,
            now,
            kind=NotificationKind.reminder,
            key=f"update-reminder/{now.isoformat()}",
            subject=f"Status update due for {format_incident_id(incident.number)}: "
            f"{incident.title}",
            reason=f"no status update for {overdue} ({incident.severity} cadence)",
        )
    record(
        session,
        incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="update_overdue",
        summary=f"No status update for {overdue}: "
        + (
            f"reminded {', '.join(people)} ({role})"
            if people
            else "no comms lead or commander to remind"
        ),
        data={"people": people, "every": overdue},
    )
    _schedule_update_reminder(session, policy, incident, since=now, now=now)
    return "reminded"


# ---------------------------------------------------------------- internals


def _start(
    session: Session, policy: Policy, incident: Incident, now: datetime, chosen: str | None = None
) -> None:
    esc = session.get(IncidentEscalation, incident.id)
    if chosen is None and esc is not None and esc.policy is not None:
        chosen = esc.policy  # a restart (reopen) keeps the policy the incident was opened with
    ep = policy.escalation_policy(chosen) if chosen else None
    if ep is None:
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
    session.flush()
    if ep is None:
        record(
            session,
            incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="escalation_missing",
            summary="No escalation policy applies to this incident: nobody was paged",
            data={"services": sorted(s.service for s in incident.services)},
        )
    else:
        _page_from(session, policy, incident, esc, ep, 0, now, trigger="incident triggered")
    _schedule_stakeholders(session, policy, incident, esc, now)
    _schedule_ack_sla(session, policy, incident, esc, now)
    _schedule_update_reminder(session, policy, incident, since=now, now=now, fresh=esc.epoch == 1)


def _page_from(
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
    overrides = _overrides(session, now)
    while True:
        step = escalation_step(ep, number)
        if step is None:
            esc.state = EscalationState.exhausted
            esc.next_escalation_at = None
            record(
                session,
                incident,
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
        people = resolve_targets(policy, step.tier.targets, now, overrides)
        if people:
            _page_people(
                session,
                incident,
                esc,
                people,
                now,
                kind=NotificationKind.page,
                key=f"page/{number}/r{esc.repages}",
                subject=_page_subject(incident),
                reason=f"{where} ({trigger})",
            )
            record(
                session,
                incident,
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
            _schedule_escalation(session, incident, esc, number + 1, now + step.timeout, now)
            return people
        record(
            session,
            incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="tier_unreachable",
            summary=f"{where.capitalize()} reaches nobody now; paging the next tier",
            data={"policy": ep.name, "tier": step.tier_index + 1, "step": number},
        )
        number += 1


def _page_people(
    session: Session,
    incident: Incident,
    esc: IncidentEscalation,
    people: Sequence[str],
    now: datetime,
    *,
    kind: NotificationKind,
    key: str,
    subject: str,
    reason: str,
) -> None:
    base = _epoch_prefix(incident, esc.epoch) + key
    for person in people:
        enqueue(
            session,
            key=f"{base}/{person}",
            person=person,
            kind=kind,
            subject=subject,
            body=_page_body(incident, reason),
            reason=reason,
            now=now,
            incident_id=incident.id,
            data={"incident": format_incident_id(incident.number), "severity": incident.severity},
        )


def _schedule_escalation(
    session: Session,
    incident: Incident,
    esc: IncidentEscalation,
    number: int,
    due: datetime,
    now: datetime,
) -> None:
    esc.next_escalation_at = due
    schedule(
        session,
        kind=ESCALATE,
        due_at=due,
        now=now,
        payload={"incident_id": incident.id, "epoch": esc.epoch, "step": number},
        key=_epoch_prefix(incident, esc.epoch) + f"escalate/{number}/r{esc.repages}",
    )


def _schedule_stakeholders(
    session: Session, policy: Policy, incident: Incident, esc: IncidentEscalation, now: datetime
) -> None:
    for index, step in enumerate(stakeholder_steps(policy, incident.severity)):
        schedule(
            session,
            kind=STAKEHOLDER,
            due_at=max(esc.started_at + step.after, now),
            now=now,
            payload={
                "incident_id": incident.id,
                "epoch": esc.epoch,
                "severity": incident.severity,
                "index": index,
            },
            key=_epoch_prefix(incident, esc.epoch) + f"stakeholder/{incident.severity}/{index}",
        )


def _schedule_ack_sla(
    session: Session, policy: Policy, incident: Incident, esc: IncidentEscalation, now: datetime
) -> None:
    within = policy.severity(incident.severity).respond_within
    schedule(
        session,
        kind=ACK_SLA,
        due_at=max(esc.started_at + within, now),
        now=now,
        payload={"incident_id": incident.id, "epoch": esc.epoch, "severity": incident.severity},
        key=_epoch_prefix(incident, esc.epoch) + f"ack-sla/{incident.severity}",
    )


def _schedule_update_reminder(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    since: datetime,
    now: datetime,
    fresh: bool = False,
) -> None:
    """``fresh``: the incident was just declared and has no reminder to replace."""
    prefix = _prefix(incident) + "update-reminder/"
    if not fresh:
        cancel_jobs(session, key_prefix=prefix, now=now)
    due = since + policy.severity(incident.severity).update_every
    schedule(
        session,
        kind=UPDATE_REMINDER,
        due_at=due,
        now=now,
        payload={"incident_id": incident.id},
        key=prefix + due.isoformat(),
    )


def _assign_commander(session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    if any(r.role == "commander" for r in incident.roles):
        return
    person, reason = choose_commander(
        policy,
        severity_rank=incident.severity_rank,
        tags=list(incident.tags),
        services=[s.service for s in incident.services],
        at=now,
        overrides_by_schedule=_overrides(session, now),
    )
    if person is None:
        if policy.commander_assignment is None:
            return
        record(
            session,
            incident,
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
        session,
        incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="role_assigned",
        summary=f"{person} assigned as commander ({reason})",
        data={"role": "commander", "people": [person], "previous": [], "reason": reason},
    )


def _require_escalation(
    session: Session, policy: Policy, incident: Incident, now: datetime
) -> tuple[IncidentEscalation, EscalationPolicy | None]:
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None:
        _start(session, policy, incident, now)
        esc = session.get(IncidentEscalation, incident.id)
        assert esc is not None
    ep = policy.escalation_policy(esc.policy) if esc.policy else None
    return esc, ep


def _require_active(incident: Incident) -> None:
    if incident.status not in _ACTIVE:
        raise Conflict(
            f"{format_incident_id(incident.number)} is {incident.status}; only an open "
            "incident can be escalated or re-paged"
        )


def _routing_service(policy: Policy, incident: Incident) -> str | None:
    """The service whose escalation policy pages: the first affected one that has one."""
    names = [s.service for s in incident.services]
    for name in names:
        service = policy.service(name)
        if service is not None and service.escalation_policy:
            return name
    return names[0] if names else None


def _page_subject(incident: Incident) -> str:
    return f"[{incident.severity}] {format_incident_id(incident.number)}: {incident.title}"


def _page_body(incident: Incident, reason: str) -> str:
    services = ", ".join(s.service for s in incident.services) or "no service named"
    return (
        f"{format_incident_id(incident.number)} {incident.severity} {incident.status}\n"
        f"{incident.title}\nServices: {services}\nWhy you: {reason}"
    )


def _fmt(delta: timedelta) -> str:
    return format_duration(delta) if delta > timedelta(0) else "0s"
