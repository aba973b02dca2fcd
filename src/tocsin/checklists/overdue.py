"""An item's deadline has come: tick it if its event has happened meanwhile, otherwise
remind whoever owns its list, once, and say so on the timeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.checklists import rules, service
from tocsin.checklists.models import ChecklistItem, ItemState
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import ACTIVE_STATUSES, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.policy import Policy

__all__ = ["handle_due"]

_ACTIVE = {s.value for s in ACTIVE_STATUSES}


def handle_due(
    *, session: Session, policy: Policy, payload: Mapping[str, Any], now: datetime
) -> str:
    """The ``checklist_due`` job: what became of the item, as the job's outcome."""
    incident_id, number = int(payload["incident_id"]), int(payload["number"])
    incident = session.get(Incident, incident_id)
    item = session.scalar(
        select(ChecklistItem).where(
            ChecklistItem.incident_id == incident_id, ChecklistItem.number == number
        )
    )
    if item is None or incident is None:
        return "gone"
    if item.state != ItemState.open or item.reminded_at is not None:
        return "settled"
    if incident.status not in _ACTIVE:
        return "stale"
    if any(t.id == item.id for t in service.refresh(session=session, incident=incident, now=now)):
        return "ticked"
    people, role = rules.reminder_targets(item.role, item.scope, service.role_holders(incident))
    ref = format_incident_id(incident.number)
    due = item.due_at.strftime("%H:%M UTC") if item.due_at else "now"
    reason = f"checklist item {item.number} was due at {due} ({item.heading}, as {role})"
    for person in people:
        enqueue(
            session=session,
            key=f"checklist:{incident.id}:{item.id}:remind/{person}",
            person=person,
            kind=NotificationKind.reminder,
            subject=f"Overdue on {ref}: {item.number}. {item.text}",
            body=f"{ref} [{incident.severity}] {incident.title}\n"
            f"Still open: {item.number}. {item.text} (due {due}).\n"
            f"Tick it: tocsin task done {ref} {item.number}",
            reason=reason,
            now=now,
            incident_id=incident.id,
            data={"incident": ref, "severity": incident.severity, "task": item.number},
            lane=incident.lane,
        )
    item.reminded_at = now
    who = f"reminded {', '.join(people)} ({role})" if people else f"nobody holds {role} to remind"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="checklist_overdue",
        summary=f"Overdue: {item.number}. {item.text}; {who}",
        data={"number": item.number, "checklist": item.checklist, "people": people},
    )
    return "reminded"
