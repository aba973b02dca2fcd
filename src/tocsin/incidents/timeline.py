"""Appending to an incident's timeline (rows are only ever inserted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, TimelineEvent

__all__ = ["SYSTEM_ACTOR", "record"]

#: The actor of what Tocsin does by itself (escalations, reminders, automatic roles).
SYSTEM_ACTOR = "tocsin"


def record(
    *,
    session: Session,
    incident: Incident,
    now: datetime,
    actor: str,
    kind: str,
    summary: str,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TimelineEvent(
            incident_id=incident.id,
            at=now,
            actor=actor,
            kind=kind,
            summary=summary,
            data=data or {},
        )
    )
