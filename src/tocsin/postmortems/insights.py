"""Lessons learned across incidents: recurring patterns and similar past incidents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.policy import Policy
from tocsin.postmortems.models import (
    PatternIncident,
    PatternList,
    PatternRead,
    Postmortem,
    SimilarIncident,
    SimilarList,
)
from tocsin.postmortems.patterns import RECURRING_MORE_THAN, PatternItem, recurring_patterns
from tocsin.postmortems.rules import format_postmortem_id
from tocsin.postmortems.similarity import SimilarityDoc, rank_similar

__all__ = ["CANDIDATES", "patterns", "similar"]

#: How many earlier incidents "similar" compares against (the most recent ones).
CANDIDATES = 2000
_PAGE = 500


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 2)


def patterns(*, session: Session, now: datetime, days: int) -> PatternList:
    """Root-cause categories seen more than twice among the post-mortems of `days` days."""
    rows = session.scalars(
        select(Postmortem)
        .where(
            Postmortem.root_cause_category.is_not(None),
            Postmortem.created_at > now - timedelta(days=days),
            Postmortem.created_at <= now,
        )
        .order_by(Postmortem.created_at, Postmortem.id)
    )
    items: list[PatternItem] = []
    for pm in rows:
        incident = incidents.get_by_id(session=session, incident_id=pm.incident_id)
        if incident is None or pm.root_cause_category is None:
            continue
        start = incident.started_at or incident.detected_at
        items.append(
            PatternItem(
                postmortem=format_postmortem_id(pm.number),
                incident=format_incident_id(incident.number),
                title=incident.title,
                severity=incident.severity,
                category=pm.root_cause_category,
                subcategory=pm.root_cause_subcategory,
                services=tuple(sorted(s.service for s in incident.services)),
                created_at=pm.created_at,
                duration=incident.resolved_at - start if incident.resolved_at else None,
            )
        )
    found = recurring_patterns(items, now=now, days=days)
    return PatternList(
        days=days,
        more_than=RECURRING_MORE_THAN,
        items=[
            PatternRead(
                pattern=p.name,
                description=p.description,
                category=p.category,
                subcategory=p.subcategory,
                occurrences=p.occurrences,
                services=list(p.services),
                first_seen=p.first_seen,
                last_seen=p.last_seen,
                average_duration_minutes=_minutes(p.average_duration),
                incidents=[
                    PatternIncident(
                        incident=i.incident,
                        postmortem=i.postmortem,
                        title=i.title,
                        severity=i.severity,
                        services=list(i.services),
                        root_cause_category=i.category,
                        root_cause_subcategory=i.subcategory,
                        created_at=i.created_at,
                        duration_minutes=_minutes(i.duration),
                    )
                    for i in p.items
                ],
            )
            for p in found
        ],
    )


def _earlier(*, session: Session, policy: Policy, incident: Incident) -> list[Incident]:
    """Up to CANDIDATES incidents declared before `incident`, most recent first."""
    found: list[Incident] = []
    offset = 0
    while len(found) < CANDIDATES:
        page, total = incidents.list_incidents(
            session=session, policy=policy, limit=_PAGE, offset=offset
        )
        found += [i for i in page if i.number < incident.number]
        offset += _PAGE
        if offset >= total or not page:
            break
    return found[:CANDIDATES]


def _postmortems(*, session: Session, ids: Iterable[int]) -> dict[int, Postmortem]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.scalars(select(Postmortem).where(Postmortem.incident_id.in_(wanted)))
    return {pm.incident_id: pm for pm in rows}


def _doc(incident: Incident, pm: Postmortem | None) -> SimilarityDoc:
    root_cause = pm.sections.get("root_cause", "") if pm else ""
    return SimilarityDoc(
        key=str(incident.id),
        text="\n".join([incident.title, incident.description, root_cause]),
        services=frozenset(s.service for s in incident.services),
    )


def similar(*, session: Session, policy: Policy, incident: Incident, limit: int) -> SimilarList:
    """Earlier incidents ranked by text (title, description, root cause) and services."""
    earlier = _earlier(session=session, policy=policy, incident=incident)
    pms = _postmortems(session=session, ids=[incident.id, *(i.id for i in earlier)])
    by_key = {str(i.id): i for i in earlier}
    ranked = rank_similar(
        _doc(incident, pms.get(incident.id)),
        [_doc(i, pms.get(i.id)) for i in earlier],
        limit=limit,
    )
    items: list[SimilarIncident] = []
    for score in ranked:
        other = by_key[score.key]
        pm = pms.get(other.id)
        items.append(
            SimilarIncident(
                incident=format_incident_id(other.number),
                title=other.title,
                severity=other.severity,
                status=other.status,
                services=sorted(s.service for s in other.services),
                detected_at=other.detected_at,
                resolved_at=other.resolved_at,
                postmortem=format_postmortem_id(pm.number) if pm else None,
                root_cause_category=pm.root_cause_category if pm else None,
                score=score.score,
                text_score=score.text_score,
                service_score=score.service_score,
                shared_services=list(score.shared_services),
            )
        )
    return SimilarList(incident=format_incident_id(incident.number), items=items)
