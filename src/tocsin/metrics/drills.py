"""The drills section of the metrics: how the team responded in its rehearsals.

Drills count in no other metric, SLO or report (:func:`tocsin.metrics.sql.is_drill`);
here they are the only incidents counted, so a team can compare its response times
from one drill to the next: time to acknowledge and time to mitigate, measured from
the declaration (a drill's impact is make-believe), and who took part.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import mean

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.service import timeline
from tocsin.incidents.timeline import SYSTEM_ACTOR

__all__ = ["DrillFacts", "DrillsSummary", "drills_summary"]


class DrillFacts(BaseModel):
    id: str
    title: str
    severity: str
    status: str
    declared_at: datetime
    #: Seconds from the declaration to the first acknowledgement (null: not yet).
    time_to_acknowledge: float | None
    #: Seconds from the declaration to mitigation (or resolution if it skipped it).
    time_to_mitigate: float | None
    #: Everyone paged, acting on it or holding a role, by name.
    participants: list[str]


class DrillsSummary(BaseModel):
    since: datetime
    until: datetime
    count: int
    mean_time_to_acknowledge: float | None
    mean_time_to_mitigate: float | None
    participants: list[str]
    drills: list[DrillFacts]


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def _participants(session: Session, incident: Incident) -> list[str]:
    people = {r.person for r in incident.roles}
    for event in timeline(session=session, incident=incident):
        if event.actor != SYSTEM_ACTOR:
            people.add(event.actor)
        if event.kind == "paged":
            people.update(str(p) for p in (event.data or {}).get("people", ()))
    return sorted(people)


def drills_summary(*, session: Session, now: datetime, window: timedelta) -> DrillsSummary:
    """The drills declared in ``[now - window, now)``, oldest first."""
    since = now - window
    rows = session.scalars(
        select(Incident)
        .where(Incident.drill.is_(True), Incident.created_at >= since, Incident.created_at < now)
        .order_by(Incident.created_at, Incident.id)
    ).all()
    drills = [
        DrillFacts(
            id=format_incident_id(i.number),
            title=i.title,
            severity=i.severity,
            status=i.status,
            declared_at=i.created_at,
            time_to_acknowledge=_seconds(i.created_at, i.acknowledged_at),
            time_to_mitigate=_seconds(i.created_at, i.mitigated_at or i.resolved_at),
            participants=_participants(session, i),
        )
        for i in rows
    ]
    acks = [d.time_to_acknowledge for d in drills if d.time_to_acknowledge is not None]
    mitigations = [d.time_to_mitigate for d in drills if d.time_to_mitigate is not None]
    return DrillsSummary(
        since=since,
        until=now,
        count=len(drills),
        mean_time_to_acknowledge=mean(acks) if acks else None,
        mean_time_to_mitigate=mean(mitigations) if mitigations else None,
        participants=sorted({p for d in drills for p in d.participants}),
        drills=drills,
    )
