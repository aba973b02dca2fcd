"""What an incident's paging timers do when they fire (the engine's job handlers).

Each runs inside the transaction that completes its job and says what it did as a
:class:`TimerOutcome`; a timer that something else has overtaken is stale and does
nothing (see :mod:`tocsin.incidents.paging.staleness`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents import hooks
from tocsin.incidents.models import Incident, IncidentEscalation, StatusUpdate
from tocsin.incidents.paging.escalation import fmt, overrides, page_from, page_people
from tocsin.incidents.paging.responder_controls import escalate_now
from tocsin.incidents.paging.staleness import (
    Escalation,
    EscalationState,
    ack_sla_is_stale,
    escalate_is_stale,
    is_active,
    stakeholder_is_stale,
)
from tocsin.incidents.paging.timers import JobKeys, schedule_update_reminder
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify.models import NotificationKind
from tocsin.oncall.escalation import escalation_step, resolve_targets, stakeholder_steps
from tocsin.policy import Policy

__all__ = [
    "TimerOutcome",
    "handle_ack_sla",
    "handle_escalate",
    "handle_stakeholder",
    "handle_update_reminder",
]


class TimerOutcome(StrEnum):
    """What a fired timer did (the engine logs it)."""

    #: Something overtook the timer (a new epoch, an acknowledgement, a new severity...).
    stale = "stale"
    #: The escalation's policy is no longer in the running policy: nobody was paged.
    missing = "missing"
    #: The next step was paged (or, past the last step, the escalation is exhausted).
    paged = "paged"
    #: The stakeholders of the severity's matrix step were informed.
    notified = "notified"
    #: The response SLA was breached (and, still on tier 1, the next tier paged).
    breached = "breached"
    #: A status update came since: the reminder was moved to its new due time.
    not_due = "not_due"
    #: The comms lead (or commander) was reminded to post an update.
    reminded = "reminded"


def handle_escalate(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> TimerOutcome:
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None or escalate_is_stale(
        payload, escalation=Escalation(esc.epoch, esc.state, esc.step), status=incident.status
    ):
        return TimerOutcome.stale
    ep = policy.escalation_policy(esc.policy) if esc.policy else None
    if ep is None:
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="escalation_missing",
            summary=f"Escalation policy {esc.policy!r} is no longer in the policy",
        )
        return TimerOutcome.missing
    step = escalation_step(ep, esc.step)
    timeout = step.timeout if step else timedelta(0)
    paged = page_from(
        session,
        policy,
        incident,
        esc,
        ep,
        esc.step + 1,
        now,
        trigger=f"not acknowledged within {fmt(timeout)}",
    )
    if paged:
        hooks.REGISTRY.run(
            hooks.IncidentEvent.escalated,
            session=session,
            policy=policy,
            incident=incident,
            actor=SYSTEM_ACTOR,
            now=now,
        )
    return TimerOutcome.paged


def handle_stakeholder(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> TimerOutcome:
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None or stakeholder_is_stale(
        payload, epoch=esc.epoch, status=incident.status, severity=incident.severity
    ):
        return TimerOutcome.stale
    index = int(payload["index"])
    steps = stakeholder_steps(policy, incident.severity)
    if index >= len(steps):
        return TimerOutcome.stale
    step = steps[index]
    people = resolve_targets(policy, step.notify, now, overrides(session, now))
    elapsed = fmt(step.after)
    page_people(
        session,
        incident,
        people,
        now,
        kind=NotificationKind.stakeholder,
        key=JobKeys(incident.id, esc.epoch).stakeholder(incident.severity, index),
        subject=f"[{incident.severity}] {format_incident_id(incident.number)} "
        f"unresolved after {elapsed}: {incident.title}",
        reason=f"stakeholder matrix for {incident.severity}: informed at {elapsed}",
    )
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="stakeholders_notified",
        summary=f"Stakeholders informed ({elapsed} unresolved): "
        + (", ".join(people) or "nobody reachable"),
        data={"people": people, "after": elapsed, "severity": incident.severity},
    )
    return TimerOutcome.notified


def handle_ack_sla(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> TimerOutcome:
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None or ack_sla_is_stale(
        payload, epoch=esc.epoch, status=incident.status, severity=incident.severity
    ):
        return TimerOutcome.stale
    within = fmt(policy.severity(incident.severity).respond_within)
    record(
        session=session,
        incident=incident,
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
    return TimerOutcome.breached


def handle_update_reminder(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Mapping[str, Any],
    now: datetime,
) -> TimerOutcome:
    if not is_active(incident.status):
        return TimerOutcome.stale
    every = policy.severity(incident.severity).update_every
    last = session.scalar(
        select(StatusUpdate.created_at)
        .where(StatusUpdate.incident_id == incident.id)
        .order_by(StatusUpdate.created_at.desc())
        .limit(1)
    )
    since = max(last or incident.detected_at, incident.detected_at)
    if since + every > now:
        schedule_update_reminder(session, policy, incident, since=since, now=now)
        return TimerOutcome.not_due
    people = [r.person for r in incident.roles if r.role == "comms_lead"]
    role = "comms lead"
    if not people:
        people = [r.person for r in incident.roles if r.role == "commander"]
        role = "commander"
    esc = session.get(IncidentEscalation, incident.id)
    overdue = fmt(every)
    if people and esc is not None:
        page_people(
            session,
            incident,
            people,
            now,
            kind=NotificationKind.reminder,
            key=JobKeys(incident.id, esc.epoch).reminder(now),
            subject=f"Status update due for {format_incident_id(incident.number)}: "
            f"{incident.title}",
            reason=f"no status update for {overdue} ({incident.severity} cadence)",
        )
    record(
        session=session,
        incident=incident,
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
    schedule_update_reminder(session, policy, incident, since=now, now=now)
    return TimerOutcome.reminded
