"""How paging reacts to an incident's lifecycle: declared, acknowledged, resolved,
reopened, a new severity, a status update. `tocsin.incidents.service` calls these inside
the transaction of the change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs
from tocsin.incidents.models import Incident, IncidentEscalation
from tocsin.incidents.paging.escalation import assign_commander, start
from tocsin.incidents.paging.staleness import EscalationState, is_active
from tocsin.incidents.paging.timers import (
    JobKeys,
    schedule_ack_sla,
    schedule_stakeholders,
    schedule_update_reminder,
)
from tocsin.incidents.rules import IncidentStatus
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import cancel_pending
from tocsin.policy import Policy

__all__ = [
    "on_acknowledged",
    "on_declared",
    "on_reopened",
    "on_resolved",
    "on_severity_changed",
    "on_status_update",
]


def on_declared(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    escalation_policy: str | None = None,
) -> None:
    """A new incident: assign a commander, page tier 1 and set every timer."""
    assign_commander(session, policy, incident, now)
    start(session, policy, incident, now, chosen=escalation_policy, new=True)


def on_reopened(*, session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    start(session, policy, incident, now)


def on_acknowledged(*, session: Session, incident: Incident, now: datetime) -> None:
    """Acknowledging stops the climb; the stakeholder matrix and reminders go on."""
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None:
        return
    keys = JobKeys(incident.id, esc.epoch)
    cancel_jobs(session=session, key_prefix=keys.escalations, now=now)
    cancel_jobs(session=session, key_prefix=keys.ack_slas, now=now)
    cancel_pending(session=session, incident_id=incident.id, kinds=[NotificationKind.page])
    if esc.state == EscalationState.active:
        esc.state = EscalationState.acknowledged
    esc.next_escalation_at = None
    esc.updated_at = now


def on_resolved(*, session: Session, incident: Incident, now: datetime) -> None:
    """Resolving cancels everything still pending for the incident."""
    cancel_jobs(session=session, key_prefix=JobKeys(incident.id).incident, now=now)
    cancel_pending(
        session=session,
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
    if esc is None or not is_active(incident.status):
        return
    keys = JobKeys(incident.id, esc.epoch)
    cancel_jobs(session=session, key_prefix=keys.stakeholders, now=now)
    schedule_stakeholders(session, policy, incident, esc, now)
    if incident.status == IncidentStatus.triggered:
        cancel_jobs(session=session, key_prefix=keys.ack_slas, now=now)
        schedule_ack_sla(session, policy, incident, esc, now)
    schedule_update_reminder(session, policy, incident, since=now, now=now)


def on_status_update(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> None:
    if is_active(incident.status):
        schedule_update_reminder(session, policy, incident, since=now, now=now)
