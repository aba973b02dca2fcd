"""Holding an incident's pages back, and letting them go.

A held incident pages nobody: the pages its declaration queued and its escalation
timers are cancelled in the same transaction (so none is ever sent), and its
escalation reads ``held``. Releasing it starts the escalation again, in a new epoch,
exactly as a reopen does: tier 1 is paged and the timers are set. The stakeholder
matrix and the update reminders are left alone: a held incident is still an incident.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs
from tocsin.incidents.models import Incident, IncidentEscalation
from tocsin.incidents.paging.escalation import start
from tocsin.incidents.paging.staleness import EscalationState
from tocsin.incidents.paging.timers import JobKeys
from tocsin.incidents.rules import IncidentStatus
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import cancel_pending
from tocsin.policy import Policy

__all__ = ["HELD", "hold", "is_held", "release"]

#: ``IncidentEscalation.state`` of an incident whose pages are held.
HELD = "held"


def hold(*, session: Session, incident: Incident, now: datetime) -> bool:
    """Cancel the incident's pending pages and escalation timers; False if it has no
    escalation running (nothing to hold)."""
    session.flush()
    esc = session.get(IncidentEscalation, incident.id)
    if esc is None or esc.state not in (EscalationState.active, HELD):
        return False
    keys = JobKeys(incident.id, esc.epoch)
    cancel_jobs(session=session, key_prefix=keys.escalations, now=now)
    cancel_jobs(session=session, key_prefix=keys.ack_slas, now=now)
    cancel_pending(session=session, incident_id=incident.id, kinds=[NotificationKind.page])
    esc.state = HELD
    esc.next_escalation_at = None
    esc.updated_at = now
    return True


def is_held(*, session: Session, incident: Incident) -> bool:
    esc = session.get(IncidentEscalation, incident.id)
    return esc is not None and esc.state == HELD


def release(*, session: Session, policy: Policy, incident: Incident, now: datetime) -> bool:
    """Page for a held incident still waiting for someone, now (a new escalation epoch);
    False if it is not held or was acknowledged meanwhile."""
    if incident.status != IncidentStatus.triggered:
        return False  # someone took it meanwhile: nobody needs paging
    if not is_held(session=session, incident=incident):
        return False
    start(session, policy, incident, now)
    return True
