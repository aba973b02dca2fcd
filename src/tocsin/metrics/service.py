"""Metrics use cases: load incident facts from the database, call the pure rules.

Loading is built for large histories (a year of 100,000 incidents is summarised in
well under a second on SQLite): incidents are read as numpy columns
(:mod:`tocsin.metrics.loader`), and a server keeps them in memory between requests,
re-reading only the incidents that changed (:mod:`tocsin.metrics.cache`). Drills (declared
as such) are flagged by the database and left out by the rules. Post-mortem facts
come from the post-mortems domain, through the provider that :func:`tocsin.wiring.wire`
puts in :data:`SOURCES` (post-mortems import metrics, so metrics must not import them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin.db import SessionFactory, session_scope
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents.findings import HintStatus, IncidentHint
from tocsin.incidents.models import Incident, IncidentService
from tocsin.metrics.budget import Impact, SloStatus, slo_status
from tocsin.metrics.bulk import collector_paused
from tocsin.metrics.cache import IncidentTableCache
from tocsin.metrics.loader import in_range, read_table
from tocsin.metrics.rules import (
    REPEAT_WITHIN,
    MetricsSummary,
    Period,
    PostmortemInputs,
    Rate,
    SlaTarget,
    summarize,
)
from tocsin.metrics.sql import is_drill
from tocsin.metrics.table import IncidentTable
from tocsin.policy import Policy, UnknownSeverity, parse_duration
from tocsin.policy.slos import ServiceLevelObjective

__all__ = [
    "MAX_WINDOW",
    "SOURCES",
    "MetricsSources",
    "PostmortemInputsProvider",
    "load_impacts",
    "load_table",
    "metrics_summary",
    "parse_window",
    "postmortem_inputs",
    "slo_snapshots",
    "slo_statuses",
    "warm_cache",
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


def load_table(
    *, session: Session, since: datetime, until: datetime, with_tags: bool = False
) -> IncidentTable:
    """Every incident detected in [since, until), drills included (flagged), as columns
    (:func:`tocsin.metrics.loader.fetch_columns`)."""
    table = read_table(session=session, since=since, until=until)
    if not with_tags:
        return table
    query = select(Incident.id, Incident.tags).where(in_range(since, until))
    rows = session.connection().execute(query)
    tags = {incident_id: tuple(values or ()) for incident_id, values in rows}
    return replace(table, tags=[tags.get(i, ()) for i in table.ids.tolist()])


def sla_targets(policy: Policy) -> dict[str, SlaTarget]:
    return {s.name: SlaTarget(s.respond_within, s.resolve_target) for s in policy.severities}


class PostmortemInputsProvider(Protocol):
    """What the post-mortems domain knows about some incidents (completion, root-cause
    categories, action items)."""

    def __call__(self, *, session: Session, incident_ids: Sequence[int]) -> PostmortemInputs: ...


@dataclass
class MetricsSources:
    """The facts metrics read from domains beside them, which they provide (see
    :func:`tocsin.wiring.wire`); one left empty makes its metrics "n/a"."""

    postmortem_inputs: PostmortemInputsProvider | None = None


#: The process's sources, filled by :func:`tocsin.wiring.wire`.
SOURCES = MetricsSources()


def postmortem_inputs(
    *, session: Session, incident_ids: Sequence[int], sources: MetricsSources = SOURCES
) -> PostmortemInputs | None:
    """What the post-mortems domain knows about these incidents, or None (= "n/a").

    Asked of ``sources.postmortem_inputs``; without that provider (a process that was not
    wired) the post-mortem metrics are "n/a" rather than a made-up 0 %.
    """
    provider = sources.postmortem_inputs
    if provider is None:
        return None
    return provider(session=session, incident_ids=list(incident_ids))


def metrics_summary(
    *,
    session: Session,
    policy: Policy,
    now: datetime,
    window: timedelta,
    period: Period = Period.week,
    cache: IncidentTableCache | None = None,
) -> MetricsSummary:
    """The summary of ``window`` up to ``now``; ``cache`` (a server's in-memory table)
    spares reading every incident again when few changed since the last call."""
    since = now - window
    with collector_paused():
        if cache is None:
            table = load_table(session=session, since=since - REPEAT_WITHIN, until=now)
        else:
            table = cache.table(session=session, since=since - REPEAT_WITHIN, until=now)
        window_mask = table.detected_between(since.timestamp(), now.timestamp())
        inside = table.ids[window_mask & ~table.drill]
        summary = summarize(
            table,
            now=now,
            window=window,
            targets=sla_targets(policy),
            period=period,
            postmortems=postmortem_inputs(session=session, incident_ids=inside.tolist()),
        )
    return replace(
        summary, top_hint_confirmed=top_hint_confirmed(session=session, since=since, until=now)
    )


def top_hint_confirmed(*, session: Session, since: datetime, until: datetime) -> Rate:
    """Of the incidents detected in ``[since, until]`` (drills left out) with a
    confirmed root-cause hint, how many had it ranked first when it was confirmed."""
    row = session.execute(
        select(
            func.count(IncidentHint.id),
            func.count(IncidentHint.id).filter(IncidentHint.top_when_decided.is_(True)),
        )
        .join(Incident, Incident.id == IncidentHint.incident_id)
        .where(
            IncidentHint.status == HintStatus.confirmed,
            Incident.detected_at >= since,
            Incident.detected_at <= until,
            Incident.drill.is_(False),
        )
    ).one()
    total, top = int(row[0]), int(row[1])
    return Rate(top, total, top / total if total else None)


def warm_cache(cache: IncidentTableCache, sessions: SessionFactory, now: datetime) -> None:
    """Read the year a summary usually covers into ``cache`` (a server does it in the
    background at start, so the first ``tocsin metrics`` after a restart is quick)."""
    with session_scope(sessions, write=False) as session, collector_paused():
        cache.table(session=session, since=now - timedelta(days=365) - REPEAT_WITHIN, until=now)


# ---------------------------------------------------------------- SLOs


def load_impacts(
    *,
    session: Session,
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
    impacts = load_impacts(session=session, policy=policy, slos=slos, since=horizon, until=now)
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
