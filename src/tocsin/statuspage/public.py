"""What customers may see, loaded once per request into plain frozen objects.

Every public response (the HTML pages, the Atom feed, the Statuspage-shaped JSON) is
rendered from these objects and nothing else. They are built only from the status
page's own tables and the policy's component names: this module reads no incident,
timeline, alert or notification table, and copies neither the link to the internal
incident nor who wrote a row, so no internal title, description, update, person, role,
tag, alert or internal id can reach a public response by accident. Drafts are not
loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from tocsin.pagination import count
from tocsin.policy import Policy
from tocsin.policy.statuspage import Impact, StatusPageSettings
from tocsin.statuspage import version
from tocsin.statuspage.models import ScheduledMaintenance, StatusIncident
from tocsin.statuspage.rules import (
    Component,
    ComponentChange,
    ComponentStatus,
    ImpactWindow,
    IncidentState,
    Indicator,
    MaintenanceStatus,
    Uptime,
    component_states,
    components_from_services,
    impact_windows,
    maintenance_status,
    overall_status,
    uptime,
    worst,
)

__all__ = [
    "PageView",
    "PublicComponent",
    "PublicGroup",
    "PublicIncident",
    "PublicMaintenance",
    "PublicUpdate",
    "load_history",
    "load_incident",
    "load_maintenance",
    "load_page",
    "page_key",
]

#: Incidents and maintenances listed in feeds and the JSON's incident lists.
RECENT = 50


@dataclass(frozen=True)
class PublicUpdate:
    id: str
    status: str
    body: str
    created_at: datetime
    display_at: datetime
    affected: tuple[ComponentChange, ...]
    deliver_notifications: bool


@dataclass(frozen=True)
class PublicIncident:
    id: str
    name: str
    status: IncidentState
    impact: Impact
    components: tuple[str, ...]
    started_at: datetime
    created_at: datetime
    updated_at: datetime
    published_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]  # newest first

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


@dataclass(frozen=True)
class PublicMaintenance:
    id: str
    name: str
    status: MaintenanceStatus
    components: tuple[str, ...]
    scheduled_for: datetime
    scheduled_until: datetime
    created_at: datetime
    updated_at: datetime
    updates: tuple[PublicUpdate, ...]  # newest first

    @property
    def active(self) -> bool:
        return self.status in (MaintenanceStatus.in_progress, MaintenanceStatus.verifying)

    @property
    def completed_at(self) -> datetime | None:
        return self.scheduled_until if self.status is MaintenanceStatus.completed else None


@dataclass(frozen=True)
class PublicComponent:
    component: Component
    status: ComponentStatus
    created_at: datetime
    updated_at: datetime
    uptime: Uptime | None

    @property
    def id(self) -> str:
        return self.component.id

    @property
    def name(self) -> str:
        return self.component.name


@dataclass(frozen=True)
class PublicGroup:
    id: str
    name: str
    position: int
    components: tuple[PublicComponent, ...]

    @property
    def status(self) -> ComponentStatus:
        return worst(c.status for c in self.components)


@dataclass(frozen=True)
class PageView:
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: datetime
    now: datetime
    indicator: Indicator
    description: str
    components: tuple[PublicComponent, ...]
    #: the page's layout: a component alone, or a group of them, in policy order
    layout: tuple[PublicComponent | PublicGroup, ...]
    unresolved: tuple[PublicIncident, ...]
    recent: tuple[PublicIncident, ...]
    maintenances: tuple[PublicMaintenance, ...]  # upcoming and in progress
    recent_maintenances: tuple[PublicMaintenance, ...]
    uptime_days: int
    subscriptions: bool

    @property
    def groups(self) -> tuple[PublicGroup, ...]:
        return tuple(item for item in self.layout if isinstance(item, PublicGroup))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def page_id(settings: StatusPageSettings) -> str:
    return hashlib.sha256(f"page:{settings.url}".encode()).hexdigest()[:12]


# ---------------------------------------------------------------- conversion


def _changes(raw: Sequence[dict[str, str]]) -> tuple[ComponentChange, ...]:
    return tuple(
        ComponentChange(
            c["name"], ComponentStatus(c["old_status"]), ComponentStatus(c["new_status"])
        )
        for c in raw
    )


def _incident(row: StatusIncident) -> PublicIncident:
    assert row.published_at is not None
    return PublicIncident(
        id=row.code,
        name=row.name,
        status=IncidentState(row.status),
        impact=Impact(row.impact),
        components=tuple(row.components),
        started_at=row.started_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
        monitoring_at=row.monitoring_at,
        resolved_at=row.resolved_at,
        updates=tuple(
            PublicUpdate(
                id=u.code,
                status=u.status,
                body=u.body,
                created_at=u.created_at,
                display_at=u.display_at,
                affected=_changes(u.affected_components),
                deliver_notifications=u.deliver_notifications,
            )
            for u in reversed(row.updates)
        ),
    )


def _maintenance(row: ScheduledMaintenance, now: datetime) -> PublicMaintenance:
    status = maintenance_status(
        MaintenanceStatus(row.status),
        row.scheduled_for,
        row.scheduled_until,
        auto=row.auto_transition,
        now=now,
    )
    return PublicMaintenance(
        id=row.code,
        name=row.name,
        status=status,
        components=tuple(row.components),
        scheduled_for=row.scheduled_for,
        scheduled_until=row.scheduled_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updates=tuple(
            PublicUpdate(
                id=u.code,
                status=u.status,
                body=u.body,
                created_at=u.created_at,
                display_at=u.created_at,
                affected=(),
                deliver_notifications=True,
            )
            for u in reversed(row.updates)
        ),
    )


def _windows(row: StatusIncident) -> list[ImpactWindow]:
    changes = [
        (datetime.fromisoformat(at), name, ComponentStatus(status))
        for at, name, status in row.component_history
    ]
    return impact_windows(row.started_at, row.resolved_at, changes)


# ---------------------------------------------------------------- queries

_published = StatusIncident.published_at.is_not(None)


def _incident_rows(
    *, session: Session, where: Sequence[ColumnElement[bool]] = (), limit: int | None = None
) -> list[StatusIncident]:
    query = (
        select(StatusIncident)
        .where(_published, *where)
        .order_by(StatusIncident.started_at.desc(), StatusIncident.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def load_page(
    *, session: Session, policy: Policy, now: datetime, with_uptime: bool = True
) -> PageView:
    """Everything the front page and the JSON summary show, as of ``now``."""
    settings = policy.status_page
    components = components_from_services(policy.services)
    window_start = now - timedelta(days=settings.uptime_days)
    unresolved_rows = _incident_rows(session=session, where=[StatusIncident.resolved_at.is_(None)])
    window_rows = _incident_rows(
        session=session,
        where=[
            or_(StatusIncident.resolved_at.is_(None), StatusIncident.resolved_at > window_start)
        ],
    )
    recent_rows = _incident_rows(session=session, limit=RECENT)
    maintenance_rows = list(
        session.scalars(
            select(ScheduledMaintenance)
            .where(ScheduledMaintenance.scheduled_until > window_start)
            .order_by(ScheduledMaintenance.scheduled_for, ScheduledMaintenance.id)
        )
    )
    maintenances = [_maintenance(row, now) for row in maintenance_rows]
    unresolved = tuple(_incident(row) for row in unresolved_rows)
    states = component_states(
        [c.name for c in components],
        [{n: ComponentStatus(s) for n, s in row.components.items()} for row in unresolved_rows],
        [m.components for m in maintenances if m.active],
    )
    windows = [w for row in window_rows for w in _windows(row)]
    epoch = _epoch(session=session, now=now)
    built: list[PublicComponent] = []
    for component in components:
        own = [w for w in windows if w.component == component.name]
        planned = [
            (m.scheduled_for, min(m.scheduled_until, now))
            for m in maintenances
            if component.name in m.components and m.scheduled_for < now
        ]
        changed = [w.start for w in own] + [w.end for w in own if w.end is not None]
        changed += [t for span in planned for t in span]
        built.append(
            PublicComponent(
                component=component,
                status=states[component.name],
                created_at=epoch,
                updated_at=max([epoch, *changed]),
                uptime=uptime(
                    own,
                    planned,
                    now=now,
                    days=settings.uptime_days,
                    weights={
                        ComponentStatus(k): v
                        for k, v in settings.uptime_weights.model_dump().items()
                    },
                    tz=ZoneInfo(settings.time_zone),
                )
                if with_uptime
                else None,
            )
        )
    indicator, description = overall_status(
        [c.status for c in built],
        [i.impact for i in unresolved],
        maintenance=any(m.active for m in maintenances),
    )
    recent = tuple(_incident(row) for row in recent_rows)
    updated = [epoch, *(i.updated_at for i in recent), *(m.updated_at for m in maintenances)]
    return PageView(
        id=page_id(settings),
        name=settings.title,
        url=settings.url,
        time_zone=settings.time_zone,
        updated_at=max(updated),
        now=now,
        indicator=indicator,
        description=description,
        components=tuple(built),
        layout=_layout(built),
        unresolved=unresolved,
        recent=recent,
        maintenances=tuple(m for m in maintenances if m.status is not MaintenanceStatus.completed),
        recent_maintenances=tuple(
            sorted(maintenances, key=lambda m: m.scheduled_for, reverse=True)[:RECENT]
        ),
        uptime_days=settings.uptime_days,
        subscriptions=settings.subscriptions,
    )


def _layout(components: Sequence[PublicComponent]) -> tuple[PublicComponent | PublicGroup, ...]:
    items: list[PublicComponent | PublicGroup] = []
    members: dict[str, list[PublicComponent]] = {}
    order: list[str | PublicComponent] = []
    for component in components:
        group = component.component.group
        if group is None:
            order.append(component)
        else:
            if group not in members:
                members[group] = []
                order.append(group)
            members[group].append(component)
    for position, entry in enumerate(order, start=1):
        if isinstance(entry, str):
            first = members[entry][0].component
            assert first.group_id is not None
            items.append(PublicGroup(first.group_id, entry, position, tuple(members[entry])))
        else:
            items.append(entry)
    return tuple(items)


def page_key(*, session: Session, now: datetime) -> tuple[object, ...]:
    """What the front page shows depends on, in two small queries: the page's version
    (:mod:`tocsin.statuspage.version`, moved by every write to what it shows), the
    maintenances ``now`` falls in, and ``now`` to the minute. Two requests with the
    same key get the same page, but for the uptime of the current minute (the page
    shows times to the minute)."""
    current = select(ScheduledMaintenance.id).where(
        ScheduledMaintenance.scheduled_for <= now, ScheduledMaintenance.scheduled_until > now
    )
    return (
        version.current(session),
        tuple(sorted(session.scalars(current))),
        now.replace(second=0, microsecond=0),
    )


def _epoch(*, session: Session, now: datetime) -> datetime:
    """When the page started keeping records: its first published incident or planned
    maintenance (components live in the policy and have no creation time of their own)."""
    first = [
        session.scalar(select(func.min(StatusIncident.created_at)).where(_published)),
        session.scalar(select(func.min(ScheduledMaintenance.created_at))),
    ]
    known = [t for t in first if t is not None]
    return min(known) if known else now


def load_incident(*, session: Session, code: str) -> PublicIncident | None:
    """A published incident by its public id; None for unknown ids and drafts alike."""
    row = session.scalar(select(StatusIncident).where(StatusIncident.code == code, _published))
    return None if row is None else _incident(row)


def load_maintenance(*, session: Session, code: str, now: datetime) -> PublicMaintenance | None:
    row = session.scalar(select(ScheduledMaintenance).where(ScheduledMaintenance.code == code))
    return None if row is None else _maintenance(row, now)


@dataclass(frozen=True)
class History:
    incidents: tuple[PublicIncident, ...]
    maintenances: tuple[PublicMaintenance, ...]
    page: int
    pages: int


def load_history(*, session: Session, now: datetime, page: int = 1, per_page: int = 20) -> History:
    """Published incidents, newest first, a page at a time, with the maintenances of
    the same span of time."""
    published = (
        select(StatusIncident)
        .where(_published)
        .order_by(StatusIncident.started_at.desc(), StatusIncident.id.desc())
    )
    pages = max(1, -(-count(session=session, query=published) // per_page))
    page = min(max(page, 1), pages)
    rows = session.scalars(published.limit(per_page).offset((page - 1) * per_page))
    incidents = tuple(_incident(row) for row in rows)
    query = select(ScheduledMaintenance).where(ScheduledMaintenance.scheduled_for <= now)
    if page < pages and incidents:
        query = query.where(ScheduledMaintenance.scheduled_for >= incidents[-1].started_at)
    if page > 1 and incidents:
        query = query.where(ScheduledMaintenance.scheduled_for < incidents[0].started_at)
    maintenances = tuple(
        _maintenance(row, now)
        for row in session.scalars(query.order_by(ScheduledMaintenance.scheduled_for.desc()))
    )
    return History(incidents=incidents, maintenances=maintenances, page=page, pages=pages)
