"""The durable timer of an item with a deadline: one job per item, set when the item is
attached, cancelled when it is settled. Its key (the incident and the item's number)
makes setting it twice a no-op, so a list attached once has its reminders exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.checklists.models import ChecklistItem
from tocsin.db.jobs import cancel_jobs, schedule

__all__ = ["DUE_JOB", "cancel_reminder", "reminder_key", "schedule_reminder"]

#: The job kind of an item's deadline.
DUE_JOB = "checklist_due"


def reminder_key(incident_id: int, number: int) -> str:
    return f"checklist:{incident_id}:{number}:due"


def schedule_reminder(
    session: Session,
    incident_id: int,
    number: int,
    due_at: datetime,
    now: datetime,
    lane: str = "",
) -> None:
    schedule(
        session=session,
        kind=DUE_JOB,
        due_at=due_at,
        payload={"incident_id": incident_id, "number": number},
        key=reminder_key(incident_id, number),
        now=now,
        lane=lane,
    )


def cancel_reminder(session: Session, item: ChecklistItem, now: datetime) -> None:
    if item.due_at is not None and item.reminded_at is None:
        cancel_jobs(
            session=session, key_prefix=reminder_key(item.incident_id, item.number), now=now
        )
