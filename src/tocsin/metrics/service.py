"""Metrics use cases: load incident facts from the database, call the pure rules.

Loading is built for large histories (a year of 100,000 incidents is summarised in
under a second on SQLite): it selects only the needed columns in three single-pass
queries (incidents, their services, the escalated ones), reads plain tuples and turns
them into numpy columns (:class:`~tocsin.metrics.table.IncidentTable`) without building
an object per incident. Drills (the ``drill`` tag) are flagged by the database and left
out by the rules. Post-mortem facts come from the post-mortems domain's service.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents.models import Incident, IncidentService, TimelineEvent
from tocsin.metrics.budget import Impact, SloStatus, slo_status
from tocsin.metrics.bulk import collector_paused
from tocsin.metrics.rules import (
    REPEAT_WITHIN,
    MetricsSummary,
    Period,
    PostmortemInputs,
    SlaTarget,
    summarize,
)
from tocsin.metrics.sql import instant, is_drill, to_epoch_seconds
from tocsin.metrics.table import IncidentTable
from tocsin.policy import Policy, UnknownSeverity, parse_duration
from tocsin.policy.slos import ServiceLevelObjective

__all__ = [
    "MAX_WINDOW",
    "load_impacts",
    "load_table",
    "metrics_summary",
    "parse_window",
    "postmortem_inputs",
    "slo_snapshots",
    "slo_statuses",
]

#: The longest window a metric may cover (ten years): keeps dates in range.
MAX_WINDOW = timedelta(days=3660)


def parse_window(value: str, field: str = "window") -> timedelta:
    """``"30d"`` → 30 days; a bad value raises :class:`InvalidInput` naming ``field``."""
    try:
        window = parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise InvalidInput(field, f"must be more than 0s and at most {MAX_WINDOW.days}d")
    return window


def _escalated_ids(session: Session, since: datetime) -> set[int]:
    """Incidents with an "escalated" event, or a page of tier 2 or later, since then."""
    event = TimelineEvent
    query = select(event.incident_id).where(
        event.at >= since,
        or_(
            event.kind == "escalated",
            and_(event.kind == "paged", event.data["tier"].as_integer() >= 2),
        ),
    )
    return set(session.connection().execute(query.distinct()).scalars())


def _services_by_incident(rows: Sequence[Any]) -> dict[int, tuple[str, ...]]:
    """(incident id, service) rows ordered by id -> id: services. Built in C for the
    usual single service (``zip`` makes the 1-tuples); the few incidents with several
    services are then put together in Python."""
    if not rows:
        return {}
    ids, names = zip(*rows, strict=True)
    services: dict[int, tuple[str, ...]] = dict(zip(ids, zip(names), strict=True))
    if len(services) < len(ids):
        grouped: dict[int, list[str]] = {}
        for position in range(1, len(ids)):
            if ids[position] == ids[position - 1]:
                first = names[position - 1]
                grouped.setdefault(ids[position], [first]).append(names[position])
        services.update((key, tuple(value)) for key, value in grouped.items())
    return services


def load_table(
    session: Session, *, since: datetime, until: datetime, with_tags: bool = False
) -> IncidentTable:
    """Every incident detected in [since, until), drills included (flagged), as columns.

    Three single-pass queries (incidents, their services, the escalated ones) whose
    rows are read straight from the DBAPI cursor as plain tuples of numbers and strings:
    no ORM objects, no datetime objects, no result-row wrappers (each of which would
    cost more than the query itself for 100,000 incidents). Durations come from the
    database; the rows are turned into columns in C (``zip``) and numpy.
    """
    connection = session.connection()
    in_range = and_(Incident.detected_at >= since, Incident.detected_at < until)
    stamps = (
        Incident.started_at,
        Incident.detected_at,
        Incident.acknowledged_at,
        Incident.mitigated_at,
        Incident.resolved_at,
    )
    main = select(
        Incident.id,
        Incident.number,
        Incident.title,
        Incident.severity,
        Incident.severity_rank,
        is_drill(),
        *(instant(session, stamp) for stamp in stamps),
    ).where(in_range)
    rows: Sequence[Any] = connection.execute(main).cursor.fetchall()
    service_query = (
        select(IncidentService.incident_id, IncidentService.service)
        .join(Incident, Incident.id == IncidentService.incident_id)
        .where(in_range)
        .order_by(IncidentService.incident_id, IncidentService.service)
    )
    services = _services_by_incident(connection.execute(service_query).cursor.fetchall())
    escalated = _escalated_ids(session, since)
    tags: dict[int, tuple[str, ...]] | None = None
    if with_tags:
        tag_rows = connection.execute(select(Incident.id, Incident.tags).where(in_range))
        tags = {incident_id: tuple(values or ()) for incident_id, values in tag_rows}
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 11
    ids = columns[0]
    started, detected, acknowledged, mitigated, resolved = (
        to_epoch_seconds(session, np.array(column, dtype=np.float64)) for column in columns[6:]
    )
    none: tuple[str, ...] = ()
    return IncidentTable.build(
        ids=ids,
        numbers=columns[1],
        titles=columns[2],
        severities=columns[3],
        ranks=columns[4],
        detected=np.round(detected, 3),
        # An impact start entered a little after detection counts as 0 (NaN stays).
        to_detect=np.maximum(np.round(detected - started, 3), 0.0),
        to_acknowledge=np.round(acknowledged - detected, 3),
        to_mitigate=np.round(mitigated - detected, 3),
        to_resolve=np.round(resolved - detected, 3),
        drill=columns[5],
        escalated=np.isin(np.array(ids, dtype=np.int64), list(escalated)),
        services=list(map(services.get, ids, repeat(none))),
        tags=None if tags is None else [tags.get(i, none) for i in ids],
    )


def sla_targets(policy: Policy) -> dict[str, SlaTarget]:
    return {s.name: SlaTarget(s.respond_within, s.resolve_target) for s in policy.severities}


def postmortem_inputs(session: Session, *, incident_ids: Sequence[int]) -> PostmortemInputs | None:
    """What the post-mortems domain knows about these incidents, or None (= "n/a").

    Looked up at run time: ``tocsin.postmortems.service.metrics_inputs(session=,
    incident_ids=)`` returns :class:`PostmortemInputs` (completion, root-cause
    categories, action items). Post-mortems sit beside metrics in the layers, so
    neither imports the other's service at import time; without that module (or that
    function) the post-mortem metrics are "n/a" rather than a made-up 0 %.
    """
    try:
        module = importlib.import_module("tocsin.postmortems.service")
    except ImportError:
        return None
    provider = getattr(module, "metrics_inputs", None)
    if provider is None:
        return None
    result = provider(session=session, incident_ids=list(incident_ids))
    return result if isinstance(result, PostmortemInputs) else None


def metrics_summary(
    *,
    session: Session,
    policy: Policy,
    now: datetime,
    window: timedelta,
    period: Period = Period.week,
) -> MetricsSummary:
    since = now - window
    with collector_paused():
        table = load_table(session, since=since - REPEAT_WITHIN, until=now)
        window_mask = table.detected_between(since.timestamp(), now.timestamp())
        inside = table.ids[window_mask & ~table.drill]
        return summarize(
            table,
            now=now,
            window=window,
            targets=sla_targets(policy),
            period=period,
            postmortems=postmortem_inputs(session, incident_ids=inside.tolist()),
        )


# ---------------------------------------------------------------- SLOs


def load_impacts(
    session: Session,
    *,
    policy: Policy,
    slos: Sequence[ServiceLevelObjective],
    since: datetime,
    until: datetime,
) -> dict[str, list[Impact]]:
    """Impacts of non-drill incidents on the objectives' services that overlap
    [since, until), weighted by each objective's severity weights. One query."""
    by_service = {slo.service: slo for slo in slos}
    if not by_service:
        return {}
    start = func.coalesce(Incident.started_at, Incident.detected_at)
    query = (
        select(
            IncidentService.service,
            Incident.id,
            Incident.number,
            Incident.severity,
            Incident.severity_rank,
            Incident.started_at,
            Incident.detected_at,
            Incident.resolved_at,
        )
        .join(Incident, Incident.id == IncidentService.incident_id)
        .where(
            IncidentService.service.in_(list(by_service)),
            start < until,
            or_(Incident.resolved_at.is_(None), Incident.resolved_at > since),
            ~is_drill(),
        )
    )
    impacts: dict[str, list[Impact]] = {name: [] for name in by_service}
    for service, id_, number, severity, rank, started, detected, resolved in session.execute(query):
        slo = by_service[service]
        try:
            level = policy.severity(severity)
            weight = slo.weight(level.name, level.rank, level.aliases)
        except UnknownSeverity:
            weight = slo.weight(severity, rank)
        impacts[service].append(Impact(id_, number, started or detected, resolved, weight))
    return impacts


def _horizon(slo: ServiceLevelObjective, now: datetime) -> datetime:
    """How far back impacts are loaded: the objective's window plus its longest
    burn-rate window, so that a burn-rate crossing can be dated within the window."""
    longest = max((a.window for a in slo.burn_rate_alerts), default=timedelta(0))
    return now - slo.window - longest


@dataclass(frozen=True)
class SloSnapshot:
    """An objective, its budget now, and the impacts it was computed from."""

    slo: ServiceLevelObjective
    status: SloStatus
    impacts: list[Impact]
    horizon: datetime


def slo_snapshots(
    *, session: Session, policy: Policy, now: datetime, service: str | None = None
) -> list[SloSnapshot]:
    """The error budget of every objective in the policy (or of one service's)."""
    slos = [s for s in policy.slos if service is None or s.service == service]
    if service is not None and not slos:
        raise NotFound(f"no service level objective for service {service!r}")
    if not slos:
        return []
    horizon = min(_horizon(s, now) for s in slos)
    impacts = load_impacts(session, policy=policy, slos=slos, since=horizon, until=now)
    return [
        SloSnapshot(
            slo=slo,
            status=slo_status(
                service=slo.service,
                objective=slo.objective,
                window=slo.window,
                alerts=[(a.window, a.threshold) for a in slo.burn_rate_alerts],
                impacts=impacts[slo.service],
                now=now,
                horizon=horizon,
            ),
            impacts=impacts[slo.service],
            horizon=horizon,
        )
        for slo in slos
    ]


def slo_statuses(
    *, session: Session, policy: Policy, now: datetime, service: str | None = None
) -> list[SloStatus]:
    return [
        snap.status
        for snap in slo_snapshots(session=session, policy=policy, now=now, service=service)
    ]
