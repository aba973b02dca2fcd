"""Alert use cases: the one place the web layer, the CLI and the engine import from.

Writes live in small modules re-exported here — :mod:`~tocsin.alerts.pipeline`
(``ingest``), :mod:`~tocsin.alerts.integrations`, :mod:`~tocsin.alerts.silencing`,
:mod:`~tocsin.alerts.heartbeats`; this module adds the reads. Every function takes the
caller's session (keyword-only, first) and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts.bulk_models import AlertStorm
from tocsin.alerts.heartbeats import HEARTBEAT_MISSED, handle_heartbeat_missed, ping
from tocsin.alerts.integrations import (
    create_integration,
    disable_integration,
    find_integration,
    get_integration,
    integration_created,
    integration_to_read,
    list_integrations,
)
from tocsin.alerts.linking import IngestNote, Outcome
from tocsin.alerts.models import Alert, AlertLink, AlertRead, Integration, StormRead
from tocsin.alerts.pipeline import (
    IngestResult,
    ingest,
    ingest_batches,
    lock_wait_ms,
    work_mark,
    work_ms,
)
from tocsin.alerts.rules.storms import top_counts
from tocsin.alerts.silencing import (
    add_silence,
    expire_silence,
    get_silence,
    list_silences,
    silence_to_read,
)
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.service import numbers_by_id
from tocsin.pagination import paginate

__all__ = [
    "ALERT_STATUSES",
    "HEARTBEAT_MISSED",
    "IngestNote",
    "IngestResult",
    "Outcome",
    "add_silence",
    "alerts_for_incident",
    "alerts_to_read",
    "count_for_incident",
    "create_integration",
    "disable_integration",
    "expire_silence",
    "find_integration",
    "get_alert",
    "get_integration",
    "get_silence",
    "handle_heartbeat_missed",
    "ingest",
    "ingest_batches",
    "integration_created",
    "integration_to_read",
    "list_alerts",
    "list_integrations",
    "list_silences",
    "lock_wait_ms",
    "ping",
    "recent_alerts",
    "silence_to_read",
    "storm_for_incident",
    "work_mark",
    "work_ms",
]

ALERT_STATUSES: tuple[str, ...] = ("firing", "resolved")


def list_alerts(
    *,
    session: Session,
    status: str | None = None,
    service: str | None = None,
    incident_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    """Alerts, most recently fired first, and how many match in all.

    ``incident_id`` is the internal id (resolve ``INC-n`` with
    :func:`tocsin.incidents.service.get`); it selects every alert linked to the
    incident, including those a cascade linked.
    """
    query = select(Alert)
    if status is not None:
        if status not in ALERT_STATUSES:
            raise InvalidInput("status", f"unknown status {status!r}; use firing or resolved")
        query = query.where(Alert.status == status)
    if service is not None:
        query = query.where(Alert.service == service)
    if incident_id is not None:
        linked = select(AlertLink.alert_id).where(AlertLink.incident_id == incident_id)
        query = query.where(Alert.id.in_(linked))
    return paginate(
        session=session,
        query=query.order_by(Alert.fired_at.desc(), Alert.id.desc()),
        limit=limit,
        offset=offset,
    )


def get_alert(*, session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def alerts_for_incident(
    *, session: Session, incident_id: int, limit: int | None = None, offset: int = 0
) -> list[Alert]:
    """The alerts linked to the incident, in the order they were linked (a page of
    them with ``limit``: an alert storm holds thousands)."""
    query = (
        select(Alert)
        .join(AlertLink, AlertLink.alert_id == Alert.id)
        .where(AlertLink.incident_id == incident_id)
        .order_by(AlertLink.linked_at, AlertLink.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_for_incident(*, session: Session, incident_id: int) -> int:
    """How many alerts are linked to the incident."""
    return int(
        session.scalar(
            select(func.count()).select_from(AlertLink).where(AlertLink.incident_id == incident_id)
        )
        or 0
    )


def storm_for_incident(*, session: Session, incident_id: int) -> StormRead | None:
    """What an alert-storm incident is made of (None for other incidents)."""
    row = session.get(AlertStorm, incident_id)
    if row is None:
        return None
    return StormRead(
        scope=row.scope,
        alerts=row.alert_count,
        top_alertnames=[{"name": n, "alerts": c} for n, c in top_counts(row.alertnames)],
        top_label_values=[{"name": n, "alerts": c} for n, c in top_counts(row.label_values)],
        merged=list(row.merged),
        started_at=row.started_at,
        updated_at=row.updated_at,
    )


def recent_alerts(
    *, session: Session, since: datetime, until: datetime | None = None
) -> list[Alert]:
    """Alerts that fired (first or again) from ``since`` (to ``until``), oldest first:
    what a shift saw, for the handoff report."""
    query = select(Alert).where(Alert.fired_at >= since)
    if until is not None:
        query = query.where(Alert.fired_at < until)
    return list(session.scalars(query.order_by(Alert.fired_at, Alert.id)))


def alerts_to_read(
    *, session: Session, alerts: Sequence[Alert], include_raw: bool = False
) -> list[AlertRead]:
    """API shapes for ``alerts``, with incident numbers and integration names looked up
    in one query each. ``include_raw`` adds the payload as received (single reads)."""
    numbers = numbers_by_id(session=session, ids={a.incident_id for a in alerts})
    wanted = {a.integration_id for a in alerts}
    names: dict[int, str] = {}
    if wanted:
        rows = session.execute(
            select(Integration.id, Integration.name).where(Integration.id.in_(wanted))
        )
        names = {row.id: row.name for row in rows}
    return [
        AlertRead(
            id=a.id,
            integration=names.get(a.integration_id, str(a.integration_id)),
            service=a.service,
            source=a.source,
            dedup_key=a.dedup_key,
            status=a.status,
            severity=a.severity,
            title=a.title,
            summary=a.summary,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            links=list(a.links),
            source_url=a.source_url,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            first_seen_at=a.first_seen_at,
            last_seen_at=a.last_seen_at,
            fired_at=a.fired_at,
            resolved_at=a.resolved_at,
            acknowledged_at=_current_ack(a),
            occurrences=a.occurrences,
            flapping=a.flapping,
            silenced_by=a.silenced_by,
            outcome=a.outcome,
            route_path=a.route_path,
            other_routes=list(a.other_routes),
            group_key=a.group_key,
            incident=(
                format_incident_id(numbers[a.incident_id])
                if a.incident_id is not None and a.incident_id in numbers
                else None
            ),
            raw=a.raw if include_raw else None,
        )
        for a in alerts
    ]


def _current_ack(alert: Alert) -> datetime | None:
    """The acknowledge of the alert's current firing (an earlier firing's does not count)."""
    acked = alert.acknowledged_at
    return acked if acked is not None and acked >= alert.fired_at else None
