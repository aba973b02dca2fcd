"""Appending to an incident's timeline (rows are only ever inserted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from tocsin.db.direct import DirectStatement
from tocsin.db.signals import CommitSignal
from tocsin.incidents.models import Incident, TimelineEvent

__all__ = ["SYSTEM_ACTOR", "TIMELINE_APPENDED", "record"]

#: Set once a transaction that appended to a timeline commits (live views wake on it).
TIMELINE_APPENDED = CommitSignal("timeline_appended")

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
    """Append one entry, at once, on the session's connection (the incident's row is
    written already: it is flushed as soon as it is declared)."""
    _INSERT.execute(
        session,
        {
            "incident_id": incident.id,
            "at": now,
            "actor": actor,
            "kind": kind,
            "summary": summary,
            "data": data or {},
        },
    )
    TIMELINE_APPENDED.raise_in(session)


def _insert(_dialect: str) -> ClauseElement:
    table = cast(Table, TimelineEvent.__table__)
    return insert(table).values(
        incident_id=bindparam("incident_id"),
        at=bindparam("at", type_=table.c.at.type),
        actor=bindparam("actor"),
        kind=bindparam("kind"),
        summary=bindparam("summary"),
        data=bindparam("data", type_=table.c.data.type),
    )


_INSERT = DirectStatement(_insert)
