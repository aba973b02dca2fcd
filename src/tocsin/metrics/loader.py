"""Reading incident facts from the database as columns.

A year can hold 100,000 incidents, so three single-pass queries (incidents, their
services, the escalated ones) read plain tuples straight from the DBAPI cursor — no ORM
objects, no datetime objects, no result-row wrappers, each of which would cost more than
the query itself — and turn them into numpy columns in C (``zip``) and numpy. Times
come from the database as numbers (:mod:`tocsin.metrics.sql`).

:class:`IncidentColumns` is what was read, before any rounding; the in-memory table of
:mod:`tocsin.metrics.cache` patches it with the incidents that changed, and
:meth:`IncidentColumns.table` turns it into the :class:`IncidentTable` the rules use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, IncidentService, TimelineEvent
from tocsin.metrics.sql import instant, is_drill, to_epoch_seconds
from tocsin.metrics.table import BoolArray, FloatArray, IncidentTable, IntArray

__all__ = ["IncidentColumns", "fetch_columns", "in_range", "read_table"]

_NO_SERVICES: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class IncidentColumns:
    """Incidents as read, ordered by id; times in epoch seconds (NaN = not yet)."""

    ids: IntArray
    numbers: IntArray
    titles: list[str]
    severities: list[str]
    ranks: IntArray
    drill: BoolArray
    started: FloatArray
    detected: FloatArray
    acknowledged: FloatArray
    mitigated: FloatArray
    resolved: FloatArray
    escalated: BoolArray
    services: list[tuple[str, ...]]

    def __len__(self) -> int:
        return int(self.ids.size)

    def take(self, rows: IntArray) -> IncidentColumns:
        """The incidents at these positions, in that order."""
        picked = rows.tolist()
        values: dict[str, Any] = {}
        for column in fields(self):
            value = getattr(self, column.name)
            if isinstance(value, np.ndarray):
                values[column.name] = value[rows]
            else:
                values[column.name] = [value[i] for i in picked]
        return IncidentColumns(**values)

    def replaced(self, ids: Sequence[int], fresh: IncidentColumns) -> IncidentColumns:
        """These incidents as in ``fresh`` (those absent from it are gone), by id."""
        kept = self.take(np.flatnonzero(~np.isin(self.ids, np.array(ids, dtype=np.int64))))
        values: dict[str, Any] = {}
        for column in fields(self):
            old, new = getattr(kept, column.name), getattr(fresh, column.name)
            values[column.name] = (
                np.concatenate((old, new)) if isinstance(old, np.ndarray) else old + new
            )
        merged = IncidentColumns(**values)
        return merged.take(np.argsort(merged.ids, kind="stable"))

    def table(self) -> IncidentTable:
        """The rules' view: instants and durations rounded to the millisecond (see
        :mod:`tocsin.metrics.sql` on precision)."""
        return IncidentTable.build(
            ids=self.ids,
            numbers=self.numbers,
            titles=self.titles,
            severities=self.severities,
            ranks=self.ranks.tolist(),
            detected=np.round(self.detected, 3),
            # An impact start entered a little after detection counts as 0 (NaN stays).
            to_detect=np.maximum(np.round(self.detected - self.started, 3), 0.0),
            to_acknowledge=np.round(self.acknowledged - self.detected, 3),
            to_mitigate=np.round(self.mitigated - self.detected, 3),
            to_resolve=np.round(self.resolved - self.detected, 3),
            drill=self.drill,
            escalated=self.escalated,
            services=self.services,
        )


def in_range(since: datetime, until: datetime | None = None) -> ColumnElement[bool]:
    """Incidents detected in [since, until) (no upper bound without ``until``)."""
    if until is None:
        return Incident.detected_at >= since
    return and_(Incident.detected_at >= since, Incident.detected_at < until)


def _escalated_ids(
    *, session: Session, since: datetime, incident_ids: Sequence[int] | None
) -> set[int]:
    """Incidents with an "escalated" event, or a page of tier 2 or later, since then."""
    event = TimelineEvent
    query = select(event.incident_id).where(
        event.at >= since,
        or_(
            event.kind == "escalated",
            and_(event.kind == "paged", event.data["tier"].as_integer() >= 2),
        ),
    )
    if incident_ids is not None:
        query = query.where(event.incident_id.in_(incident_ids))
    rows = session.connection().execute(query.distinct()).cursor.fetchall()
    return {row[0] for row in rows}


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


def fetch_columns(
    *,
    session: Session,
    where: ColumnElement[bool],
    escalated_since: datetime,
    incident_ids: Sequence[int] | None = None,
) -> IncidentColumns:
    """The incidents matching ``where`` (drills included, flagged), ordered by id.
    ``incident_ids``: only these (``where`` should say so too); escalation events are
    counted from ``escalated_since``."""
    connection = session.connection()
    stamps = (
        Incident.started_at,
        Incident.detected_at,
        Incident.acknowledged_at,
        Incident.mitigated_at,
        Incident.resolved_at,
    )
    main = (
        select(
            Incident.id,
            Incident.number,
            Incident.title,
            Incident.severity,
            Incident.severity_rank,
            is_drill(),
            *(instant(session=session, column=stamp) for stamp in stamps),
        )
        .where(where)
        .order_by(Incident.id)
    )
    rows: Sequence[Any] = connection.execute(main).cursor.fetchall()
    service_query = (
        select(IncidentService.incident_id, IncidentService.service)
        .join(Incident, Incident.id == IncidentService.incident_id)
        .where(where)
        .order_by(IncidentService.incident_id, IncidentService.service)
    )
    services = _services_by_incident(connection.execute(service_query).cursor.fetchall())
    escalated = _escalated_ids(session=session, since=escalated_since, incident_ids=incident_ids)
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 11
    ids = np.array(columns[0], dtype=np.int64)
    started, detected, acknowledged, mitigated, resolved = (
        to_epoch_seconds(session=session, values=np.array(column, dtype=np.float64))
        for column in columns[6:]
    )
    return IncidentColumns(
        ids=ids,
        numbers=np.array(columns[1], dtype=np.int64),
        titles=list(columns[2]),
        severities=list(columns[3]),
        ranks=np.array(columns[4], dtype=np.int64),
        drill=np.array(columns[5], dtype=np.bool_),
        started=started,
        detected=detected,
        acknowledged=acknowledged,
        mitigated=mitigated,
        resolved=resolved,
        escalated=np.isin(ids, np.fromiter(escalated, dtype=np.int64, count=len(escalated))),
        services=list(map(services.get, columns[0], repeat(_NO_SERVICES))),
    )


def read_table(*, session: Session, since: datetime, until: datetime) -> IncidentTable:
    """Every incident detected in [since, until), drills included (flagged), read now."""
    return fetch_columns(
        session=session, where=in_range(since, until), escalated_since=since
    ).table()
