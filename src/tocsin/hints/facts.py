"""Reading the facts the hint rules weigh, for one incident: its situation (services,
dependencies, hosts, impact start), the changes before it, the open incidents and
firing alerts of its dependencies, its own alerts, and similar past incidents.

A few bounded queries per incident, never per alert.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert
from tocsin.changes.models import Change
from tocsin.hints.rules import (
    AlertFact,
    ChangeFact,
    IncidentFact,
    Situation,
    Weights,
    dependency_depths,
)
from tocsin.incidents.downstream import depends_map, upstream_of
from tocsin.incidents.models import Incident, IncidentService
from tocsin.incidents.rules import ACTIVE_STATUSES, format_incident_id
from tocsin.policy import Policy
from tocsin.postmortems.models import ActionItem, Postmortem
from tocsin.postmortems.similarity import SimilarityDoc, rank_similar

__all__ = [
    "ALERT_LIMIT",
    "PAST_CANDIDATES",
    "SIMILAR_MIN_SCORE",
    "alert_facts",
    "change_facts",
    "has_past",
    "incident_href",
    "open_incident_facts",
    "past_facts",
    "situation",
    "weights",
]

#: At most this many of the incident's own alerts are read (the most recent)...
ALERT_LIMIT = 200
#: ... and this many firing alerts of its services and their dependencies.
AROUND_LIMIT = 50
#: Past incidents less alike than this are not suggested.
SIMILAR_MIN_SCORE = 0.3
#: Open incidents of the dependencies weighed as failing upstreams (the oldest first).
OPEN_INCIDENT_LIMIT = 20
#: How many recent past incidents of the same services are compared, and suggested.
PAST_CANDIDATES = 200
SIMILAR_SHOWN = 3
_HOST_LABELS = ("host", "hostname", "instance", "node", "pod")
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


def weights(policy: Policy) -> Weights:
    settings = policy.hints
    return Weights(
        change=settings.weights.change,
        upstream=settings.weights.upstream,
        resource=settings.weights.resource,
        similar=settings.weights.similar,
        change_close=settings.change_close,
        change_window=settings.change_window,
    )


def incident_href(number: int) -> str:
    return f"/dashboard/incidents/{format_incident_id(number)}"


def _host(alert: Alert) -> str | None:
    return _host_of(alert.labels or {})


def _host_of(labels: Mapping[str, Any]) -> str | None:
    for name in _HOST_LABELS:
        value = labels.get(name)
        if value:
            return str(value)
    return None


def situation(
    *, session: Session, policy: Policy, incident: Incident, new: bool = False
) -> Situation:
    """``new``: declared in this transaction, so it has no alerts yet."""
    services = tuple(sorted(s.service for s in incident.services))
    own_hosts = (
        ()
        if new
        else session.scalars(
            select(Alert)
            .where(Alert.incident_id == incident.id)
            .order_by(Alert.id.desc())
            .limit(ALERT_LIMIT)
        )
    )
    hosts = tuple(sorted({h for a in own_hosts if (h := _host(a)) is not None}))
    linked = tuple(
        format_incident_id(up.number) for up, _ in upstream_of(session=session, incident=incident)
    )
    return Situation(
        services=services,
        dependencies=dependency_depths(services, depends_map(policy)),
        impact_start=incident.started_at or incident.detected_at,
        hosts=hosts,
        linked=linked,
    )


def change_facts(
    *, session: Session, services: set[str], since: datetime, until: datetime
) -> list[ChangeFact]:
    """Changes to ``services`` that happened in ``[since, until)``."""
    if not services:
        return []
    values = {"services": sorted(services), "since": since, "until": until}
    rows = session.scalars(_statements().changes, values)
    return [
        ChangeFact(
            id=c.id,
            service=c.service,
            summary=c.summary,
            timestamp=c.timestamp,
            href=(c.links[0].get("href") if c.links else None),
            source=c.source,
        )
        for c in rows
    ]


def open_incident_facts(
    *, session: Session, services: set[str], exclude: int
) -> list[IncidentFact]:
    """The open incidents (drills left out) of ``services``, the oldest
    ``OPEN_INCIDENT_LIMIT`` (the earliest are the likely causes; reading every open
    incident of a busy service would make each declaration cost more than the last)."""
    if not services:
        return []
    rows = session.scalars(
        _statements().open_incidents, {"services": sorted(services), "exclude": exclude}
    )
    return [
        IncidentFact(
            ref=format_incident_id(i.number),
            title=i.title,
            services=tuple(s.service for s in i.services),
            started_at=i.started_at or i.detected_at,
            href=incident_href(i.number),
        )
        for i in rows
    ]


def has_past(*, session: Session, incident: Incident) -> bool:
    """Whether any earlier incident of the same services is over (one indexed probe):
    without one there is nothing to compare with."""
    services = sorted(s.service for s in incident.services)
    if not services:
        return False
    values = {"services": services, "number": incident.number}
    return session.execute(_statements().any_past, values).first() is not None


def alert_facts(
    *,
    session: Session,
    incident: Incident,
    services: set[str],
    since: datetime,
    new: bool = False,
) -> list[AlertFact]:
    """The incident's own alerts (the most recent :data:`ALERT_LIMIT`) and the alerts of
    ``services`` (its own and its dependencies': the alert that opens an incident joins
    it only after the incident is declared) firing since ``since``, the most recent
    :data:`AROUND_LIMIT`."""
    own = (
        []
        if new
        else list(
            session.scalars(
                select(Alert)
                .where(Alert.incident_id == incident.id)
                .order_by(Alert.id.desc())
                .limit(ALERT_LIMIT)
            )
        )
    )
    seen: set[int] = set()
    facts: list[AlertFact] = []

    def add(
        id_: int,
        service: str | None,
        title: str,
        started_at: datetime,
        status: str,
        labels: Mapping[str, Any],
        summary: str | None,
    ) -> None:
        if id_ in seen:
            return
        seen.add(id_)
        text = " ".join([*(str(v) for v in labels.values()), summary or ""])
        facts.append(
            AlertFact(
                id=id_,
                service=service,
                title=title,
                started_at=started_at,
                firing=status == "firing",
                host=_host_of(labels),
                text=text[:2000],
            )
        )

    for alert in own:
        add(
            alert.id,
            alert.service,
            alert.title,
            alert.starts_at or alert.fired_at,
            alert.status,
            alert.labels or {},
            alert.summary,
        )
    if services:
        # Columns only: the alerts around are many and their rows are not needed.
        rows = session.execute(
            _statements().alerts_around, {"services": sorted(services), "since": since}
        )
        for row in rows:
            add(
                row.id,
                row.service,
                row.title,
                row.starts_at or row.fired_at,
                row.status,
                row.labels or {},
                row.summary,
            )
    return facts


def past_facts(*, session: Session, incident: Incident) -> list[IncidentFact]:
    """Similar earlier incidents (resolved or closed, of the same services: the
    :data:`PAST_CANDIDATES` most recent), with what their post-mortems say."""
    services = sorted(s.service for s in incident.services)
    if not services:
        return []
    candidates = list(
        session.scalars(
            select(Incident)
            .join(IncidentService, IncidentService.incident_id == Incident.id)
            .where(
                IncidentService.service.in_(services),
                Incident.status.not_in(_ACTIVE),
                Incident.drill.is_(False),
                Incident.number < incident.number,
            )
            .order_by(Incident.id.desc())
            .limit(PAST_CANDIDATES)
            .distinct()
        )
    )
    if not candidates:
        return []
    pms = {
        pm.incident_id: pm
        for pm in session.scalars(
            select(Postmortem).where(Postmortem.incident_id.in_([i.id for i in candidates]))
        )
    }
    by_key = {str(i.id): i for i in candidates}
    ranked = rank_similar(
        _doc(incident, None),
        [_doc(i, pms.get(i.id)) for i in candidates],
        limit=SIMILAR_SHOWN,
        min_score=SIMILAR_MIN_SCORE,
    )
    facts: list[IncidentFact] = []
    for score in ranked:
        past = by_key[score.key]
        pm = pms.get(past.id)
        items: tuple[str, ...] = ()
        if pm is not None:
            items = tuple(
                session.scalars(
                    select(ActionItem.title)
                    .where(ActionItem.postmortem_id == pm.id)
                    .order_by(ActionItem.id)
                    .limit(3)
                )
            )
        facts.append(
            IncidentFact(
                ref=format_incident_id(past.number),
                title=past.title,
                services=tuple(s.service for s in past.services),
                started_at=past.started_at or past.detected_at,
                open=False,
                similarity=score.score,
                root_cause=_first_line(pm.sections.get("root_cause")) if pm else None,
                category=pm.root_cause_category if pm else None,
                resolution=_first_line(pm.sections.get("lessons_learned")) if pm else None,
                action_items=items,
                href=incident_href(past.number),
            )
        )
    return facts


def _doc(incident: Incident, pm: Postmortem | None) -> SimilarityDoc:
    root_cause = pm.sections.get("root_cause", "") if pm else ""
    return SimilarityDoc(
        key=str(incident.id),
        text="\n".join([incident.title, incident.description, root_cause]),
        services=frozenset(s.service for s in incident.services),
    )


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not line or line.startswith("*["):  # the draft's placeholder, not an answer
        return None
    return line[:200]


class _Statements(NamedTuple):
    changes: Select[Change]
    open_incidents: Select[Incident]
    any_past: Select[int]
    alerts_around: Select[*tuple[Any, ...]]


@functools.cache
def _statements() -> _Statements:
    """The facts' queries, built once with bound parameters: every declaration asks
    them, and building and keying them anew cost more than the database's answers."""
    return _Statements(
        changes=select(Change)
        .where(
            Change.service.in_(bindparam("services", expanding=True)),
            Change.timestamp >= bindparam("since"),
            Change.timestamp < bindparam("until"),
        )
        .order_by(Change.timestamp.desc(), Change.id.desc())
        .limit(ALERT_LIMIT),
        open_incidents=select(Incident)
        .join(IncidentService, IncidentService.incident_id == Incident.id)
        .where(
            IncidentService.service.in_(bindparam("services", expanding=True)),
            Incident.status.in_(_ACTIVE),
            Incident.drill.is_(False),
            Incident.id != bindparam("exclude"),
        )
        .order_by(Incident.id)
        .distinct()
        .limit(OPEN_INCIDENT_LIMIT),
        any_past=select(Incident.id)
        .join(IncidentService, IncidentService.incident_id == Incident.id)
        .where(
            IncidentService.service.in_(bindparam("services", expanding=True)),
            Incident.status.not_in(_ACTIVE),
            Incident.number < bindparam("number"),
        )
        .limit(1),
        # Columns only: the alerts around are many and their rows are not needed.
        alerts_around=select(
            Alert.id,
            Alert.service,
            Alert.title,
            Alert.starts_at,
            Alert.fired_at,
            Alert.status,
            Alert.labels,
            Alert.summary,
        )
        .where(
            Alert.service.in_(bindparam("services", expanding=True)),
            Alert.status == "firing",
            Alert.fired_at >= bindparam("since"),
            Alert.drill.is_(False),
        )
        .order_by(Alert.fired_at.desc())
        .limit(AROUND_LIMIT),
    )
