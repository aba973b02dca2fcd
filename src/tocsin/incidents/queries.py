"""The read side of incidents: find them, list them, read their timeline and updates,
and turn rows into the API's read schemas. Nothing here writes.

`tocsin.incidents.service` re-exports every name, so callers may import either.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, lazyload, selectinload
from sqlalchemy.orm.util import identity_key

from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents.list_memory import memory
from tocsin.incidents.models import (
    Incident,
    IncidentRead,
    IncidentRole,
    IncidentService,
    StatusUpdate,
    StatusUpdateRead,
    TimelineEvent,
    TimelineEventRead,
)
from tocsin.incidents.rules import (
    ACTIVE_STATUSES,
    IncidentStatus,
    allowed_transitions,
    format_incident_id,
    parse_incident_id,
)
from tocsin.pagination import BAD_CURSOR, count, decode_cursor, encode_cursor
from tocsin.policy import Policy, UnknownSeverity

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])

__all__ = [
    "get",
    "get_by_id",
    "hold_incidents",
    "incidents_cursor",
    "list_incidents",
    "list_reads",
    "list_updates",
    "numbers_by_id",
    "read",
    "timeline",
    "timeline_cursor",
    "timeline_to_read",
    "to_read",
    "update_to_read",
]


def get(*, session: Session, ref: str, with_related: bool = True) -> Incident:
    """The incident INC-n; ``with_related=False``: its services and roles are read only
    if used. :class:`NotFound` for an unknown one."""
    number = parse_incident_id(ref)
    incident = None
    if number is not None:
        query = _BY_NUMBER if with_related else _BY_NUMBER_ON_ACCESS
        incident = session.scalar(query, {"number": number})
    if incident is None:
        raise NotFound(f"incident {ref!r} not found")
    return incident


def read(*, session: Session, ref: str) -> IncidentRead:
    """The incident INC-n as the API shows it, read as columns (see :func:`list_reads`);
    :class:`NotFound` for an unknown one."""
    number = parse_incident_id(ref)
    rows: Sequence[Row[*tuple[Any, ...]]] = ()
    if number is not None:
        rows = session.connection().execute(_READ_BY_NUMBER, {"number": number}).all()
    if not rows:
        raise NotFound(f"incident {ref!r} not found")
    return _reads(session, rows)[0]


#: Services and roles read when first touched, not with the incident.
_ON_ACCESS = (lazyload(Incident.services), lazyload(Incident.roles))

# The statements every read of one incident runs, built once: building a statement and
# matching it to its compiled form cost a fifth of an incident read.
_BY_NUMBER = select(Incident).where(Incident.number == bindparam("number"))
_BY_NUMBER_ON_ACCESS = _BY_NUMBER.options(*_ON_ACCESS)


def get_by_id(*, session: Session, incident_id: int, with_related: bool = True) -> Incident | None:
    """``with_related=False``: services and roles are read only if used (the alert
    path attaches many alerts to incidents whose services and roles it never reads)."""
    if with_related:
        return session.get(Incident, incident_id)
    # Options make `get` read the row even when the session holds it already.
    held = session.identity_map.get(identity_key(Incident, incident_id))
    if isinstance(held, Incident):
        return held
    return session.get(Incident, incident_id, options=_ON_ACCESS)


#: Services and roles read for all the incidents at once, with them.
_TOGETHER = (selectinload(Incident.services), selectinload(Incident.roles))


def hold_incidents(
    *, session: Session, ids: Iterable[int | None], with_related: bool = False
) -> list[Incident]:
    """Read these incidents in one query, so that :func:`get_by_id` finds each in the
    session: a batch of messages or jobs about a hundred incidents reads them once, not
    one by one. Services and roles are left for when they are used, or, with
    ``with_related``, read for all of them in one query each (for callers that use
    them: a page names the services). The caller keeps the list for as long as it needs
    them (a session holds its objects only while something else does)."""
    wanted = {i for i in ids if i is not None}
    held = [
        found
        for i in wanted
        if isinstance(found := session.identity_map.get(identity_key(Incident, i)), Incident)
    ]
    missing = wanted - {incident.id for incident in held}
    if missing:
        held.extend(session.scalars(_held(with_related), {"ids": sorted(missing)}))
    return held


@functools.cache
def _held(with_related: bool) -> Select[Incident]:
    """:func:`hold_incidents`'s query, built once (every delivery round asks it)."""
    options = _TOGETHER if with_related else _ON_ACCESS
    ids: Any = bindparam("ids", expanding=True)
    return select(Incident).where(Incident.id.in_(ids)).options(*options)


def numbers_by_id(*, session: Session, ids: set[int | None]) -> dict[int, int]:
    """Human numbers for internal ids (to show INC-n beside rows of other tables)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(Incident.id, Incident.number).where(Incident.id.in_(wanted)))
    return {row.id: row.number for row in rows}


def _matching(
    policy: Policy, statuses: Sequence[str], severity: str | None, service: str | None
) -> tuple[_Shape, dict[str, Any]]:
    """Which of the incident list's filters are given, and their values (unknown values
    refused): the conditions themselves are :func:`_conditions`."""
    wanted = _status_filter(statuses)
    values: dict[str, Any] = {}
    if wanted:
        values["statuses"] = wanted
    if severity:
        values["severity"] = _severity_name(policy, severity)
    if service:
        values["service"] = service
    return _Shape(bool(wanted), bool(severity), bool(service)), values


class _Shape(NamedTuple):
    """Which filters a list has (their values are bound at each request)."""

    statuses: bool
    severity: bool
    service: bool


@functools.cache
def _conditions(shape: _Shape) -> tuple[ColumnElement[bool], ...]:
    """The filters' conditions, built once per shape with bound parameters: building
    and keying a statement anew took a fifth of a list request."""
    conditions: list[ColumnElement[bool]] = []
    if shape.statuses:
        conditions.append(Incident.status.in_(bindparam("statuses", expanding=True)))
    if shape.severity:
        conditions.append(Incident.severity == bindparam("severity"))
    if shape.service:
        # EXISTS, not IN: the planner then walks the list's own order and stops at the
        # page, checking each incident's services by their key (SQLite otherwise reads
        # every incident of the service and sorts them).
        conditions.append(
            select(IncidentService.incident_id)
            .where(
                IncidentService.incident_id == Incident.id,
                IncidentService.service == bindparam("service"),
            )
            .exists()
        )
    return tuple(conditions)


@functools.cache
def _read_statements(shape: _Shape, after: bool) -> tuple[Select[int], Select[*tuple[Any, ...]]]:
    """The count and the page of :func:`list_reads` for one shape, built once."""
    query = select(*_READ_COLUMNS).where(*_conditions(shape))
    return select(func.count()).select_from(query.subquery()), _page(query, after)


def _page(query: _Query, after: bool) -> _Query:
    """``query``'s page, newest first, with its bound parameters (:func:`_page_values`)."""
    if after:
        query = query.where(Incident.number < bindparam("after"))
    return (
        query.order_by(Incident.number.desc()).limit(bindparam("limit")).offset(bindparam("offset"))
    )


def _page_values(
    values: dict[str, Any], *, limit: int, offset: int, after: str | None
) -> dict[str, Any]:
    """The filters' ``values`` and the page's, for :func:`_page`."""
    paged = {**values, "limit": limit, "offset": offset}
    if after is not None:
        (number,) = decode_cursor("after", after, (int,))
        paged["after"] = int(number)
    return paged


def list_incidents(
    *,
    session: Session,
    policy: Policy,
    statuses: Sequence[str] = (),
    severity: str | None = None,
    service: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
    with_total: bool = True,
) -> tuple[list[Incident], int]:
    """A page of incidents, newest first, and how many match (-1 without
    ``with_total``: counting walks every match). ``after`` is a cursor this list
    returned (:func:`incidents_cursor`); ``limit=0`` only counts."""
    shape, values = _matching(policy, statuses, severity, service)
    query = select(Incident).where(*_conditions(shape)).params(values)
    total = count(session=session, query=query) if with_total else -1
    if limit == 0:
        return [], total
    page = _page(query, after is not None)
    rows = session.scalars(page, _page_values(values, limit=limit, offset=offset, after=after))
    return list(rows), total


def list_reads(
    *,
    session: Session,
    policy: Policy,
    statuses: Sequence[str] = (),
    severity: str | None = None,
    service: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
    with_total: bool = True,
) -> tuple[list[IncidentRead], int]:
    """:func:`list_incidents` as the API's read schema, read as columns: one query for
    the page, one for its services and one for its roles, and no ORM objects (loading
    and tracking them cost more than the query for a page of 50). The count, and where
    a page at an offset begins, are learned once until an incident changes
    (:mod:`tocsin.incidents.list_memory`)."""
    shape, values = _matching(policy, statuses, severity, service)
    counting, paging = _read_statements(shape, after is not None)
    # On the connection: columns need none of the ORM's result processing.
    connection = session.connection()
    key = (shape, tuple((name, _hashable(value)) for name, value in sorted(values.items())))
    era = memory.era(session)
    total = -1
    if with_total:
        total = memory.count(
            session, era, key, lambda: int(connection.execute(counting, values).scalar_one())
        )
    if limit == 0:
        return [], total
    start = memory.page_start(session, era, key, offset) if after is None and offset else None
    if start is None:
        paged = _page_values(values, limit=limit, offset=offset, after=after)
    else:  # a page begun before: read from where it begins, as a cursor would
        paging = _read_statements(shape, True)[1]
        paged = {**values, "limit": limit, "offset": 0, "after": start}
    rows = connection.execute(paging, paged).all()
    if after is None:
        memory.learn_page(session, era, key, offset, [row.number for row in rows])
    return _reads(session, rows), total


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _reads(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> list[IncidentRead]:
    """Rows of :data:`_READ_COLUMNS` as read schemas, with their services and roles read
    in one query each."""
    ids = [row.id for row in rows]
    services: dict[int, list[str]] = {}
    roles: dict[int, dict[str, list[str]]] = {}
    if ids:
        connection = session.connection()
        for incident_id, name in connection.execute(_SERVICES_OF, {"ids": ids}):
            services.setdefault(incident_id, []).append(name)
        for incident_id, role, person in connection.execute(_ROLES_OF, {"ids": ids}):
            roles.setdefault(incident_id, {}).setdefault(role, []).append(person)
    return [_read(row, services.get(row.id, []), roles.get(row.id, {})) for row in rows]


_READ_COLUMNS = (
    Incident.id,
    Incident.number,
    Incident.title,
    Incident.description,
    Incident.status,
    Incident.severity,
    Incident.severity_rank,
    Incident.tags,
    Incident.started_at,
    Incident.detected_at,
    Incident.acknowledged_at,
    Incident.mitigated_at,
    Incident.resolved_at,
    Incident.closed_at,
    Incident.created_at,
    Incident.updated_at,
    Incident.created_by,
    Incident.drill,
    Incident.drill_responders,
    Incident.drill_pages_oncall,
)

_READ_BY_NUMBER = select(*_READ_COLUMNS).where(Incident.number == bindparam("number"))
_SERVICES_OF = (
    select(IncidentService.incident_id, IncidentService.service)
    .where(IncidentService.incident_id.in_(bindparam("ids", expanding=True)))
    .order_by(IncidentService.service)
)
_ROLES_OF = (
    select(IncidentRole.incident_id, IncidentRole.role, IncidentRole.person)
    .where(IncidentRole.incident_id.in_(bindparam("ids", expanding=True)))
    .order_by(IncidentRole.id)
)


def _read(
    row: Incident | Row[*tuple[Any, ...]], services: list[str], roles: dict[str, list[str]]
) -> IncidentRead:
    """The read schema of an incident, from its object or a row of :data:`_READ_COLUMNS`.

    Built without validation: every value comes from a typed column, and validating a
    page of them again cost a fifth of the dashboard list's time."""
    return IncidentRead.model_construct(
        id=format_incident_id(row.number),
        number=row.number,
        title=row.title,
        description=row.description,
        status=row.status,
        severity=row.severity,
        severity_rank=row.severity_rank,
        services=services,
        tags=list(row.tags),
        roles=roles,
        started_at=row.started_at,
        detected_at=row.detected_at,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        allowed_transitions=list(_TRANSITIONS[row.status]),
        drill=bool(row.drill),
        drill_responders=list(row.drill_responders or ()),
        drill_pages_oncall=bool(row.drill_pages_oncall),
    )


#: The statuses each status may move to, as the read schema lists them.
_TRANSITIONS = {s.value: [t.value for t in allowed_transitions(s)] for s in IncidentStatus}


def incidents_cursor(rows: Sequence[Incident] | Sequence[IncidentRead], limit: int) -> str | None:
    """The cursor of the page after ``rows`` (a full page of :func:`list_incidents`),
    None after a page that was not full: it was the last."""
    return encode_cursor(rows[-1].number) if rows and len(rows) >= limit else None


def timeline(
    *, session: Session, incident: Incident, limit: int | None = None, after: str | None = None
) -> list[TimelineEvent]:
    """The incident's timeline, oldest first: all of it, or up to ``limit`` events
    from the cursor ``after`` (:func:`timeline_cursor`)."""
    query = _TIMELINE
    if after is not None:
        at_text, event_id = decode_cursor("after", after, (str, int))
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise InvalidInput("after", BAD_CURSOR) from None
        query = query.where(
            or_(
                TimelineEvent.at > at,
                and_(TimelineEvent.at == at, TimelineEvent.id > event_id),
            )
        )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query, {"incident_id": incident.id}))


_TIMELINE = (
    select(TimelineEvent)
    .where(TimelineEvent.incident_id == bindparam("incident_id"))
    .order_by(TimelineEvent.at, TimelineEvent.id)
)


def timeline_cursor(events: Sequence[TimelineEvent], limit: int) -> str | None:
    """The cursor of the page after ``events`` (a full page of :func:`timeline`)."""
    if not events or len(events) < limit:
        return None
    return encode_cursor(events[-1].at.isoformat(), events[-1].id)


def list_updates(*, session: Session, incident: Incident) -> list[StatusUpdate]:
    return list(
        session.scalars(
            select(StatusUpdate)
            .where(StatusUpdate.incident_id == incident.id)
            .order_by(StatusUpdate.created_at, StatusUpdate.id)
        )
    )


def to_read(incident: Incident) -> IncidentRead:
    roles: dict[str, list[str]] = {}
    for assignment in incident.roles:
        roles.setdefault(assignment.role, []).append(assignment.person)
    return _read(incident, sorted(s.service for s in incident.services), roles)


def update_to_read(incident: Incident, update: StatusUpdate) -> StatusUpdateRead:
    return StatusUpdateRead(
        id=update.id,
        incident_id=format_incident_id(incident.number),
        status=update.status,
        message=update.message,
        public=update.public,
        actor=update.actor,
        created_at=update.created_at,
    )


def timeline_to_read(event: TimelineEvent) -> TimelineEventRead:
    return TimelineEventRead(
        id=event.id,
        at=event.at,
        actor=event.actor,
        kind=event.kind,
        summary=event.summary,
        data=event.data,
    )


# ---------------------------------------------------------------- internals


def _severity_name(policy: Policy, name: str) -> str:
    try:
        return policy.severity(name).name
    except UnknownSeverity as exc:
        raise InvalidInput("severity", str(exc)) from None


def _status_filter(statuses: Sequence[str]) -> list[str]:
    wanted: list[str] = []
    for raw in statuses:
        for value in raw.split(","):
            name = value.strip().lower()
            if not name:
                continue
            if name == "active":
                wanted.extend(s.value for s in ACTIVE_STATUSES)
                continue
            try:
                wanted.append(IncidentStatus(name).value)
            except ValueError:
                valid = ", ".join(["active", *(s.value for s in IncidentStatus)])
                raise InvalidInput("status", f"unknown status {name!r}; valid: {valid}") from None
    return wanted
