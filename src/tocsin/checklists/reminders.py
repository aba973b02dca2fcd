"""The durable timer of an item with a deadline: one job per item, set when the item is
attached, cancelled when it is settled. Its key makes setting it twice a no-op, so a
list attached once has its reminders exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.checklists.models import ChecklistItem
from tocsin.db.jobs import cancel_jobs, schedule

__all__ = ["DUE_JOB", "cancel_reminder", "reminder_key", "schedule_reminder"]

#: The job kind of an item's deadline.
DUE_JOB = "checklist_due"


def reminder_key(item: ChecklistItem) -> str:
    return f"checklist:{item.incident_id}:{item.id}:due"


def schedule_reminder(session: Session, item: ChecklistItem, now: datetime) -> None:
    if item.due_at is None:
        return
    schedule(
        session=session,
        kind=DUE_JOB,
        due_at=item.due_at,
        payload={"incident_id": item.incident_id, "item_id": item.id},
        key=reminder_key(item),
        now=now,
    )


def cancel_reminder(session: Session, item: ChecklistItem, now: datetime) -> None:
    if item.due_at is not None and item.reminded_at is None:
        cancel_jobs(session=session, key_prefix=reminder_key(item), now=now)
