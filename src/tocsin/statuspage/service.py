"""Status page use cases for responders: public incidents, their updates, drafts and
scheduled maintenance — each in the caller's transaction.

A published update that should reach subscribers schedules one ``statuspage_notify``
job in the same transaction (see :mod:`tocsin.statuspage.subscribers`), so the emails
go out if, and only if, the update commits.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.drills import is_drill
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.pagination import paginate
from tocsin.policy import Policy
from tocsin.policy.statuspage import Impact, StatusPageSettings
from tocsin.statuspage import subscribers, version  # noqa: F401  (version: its flush hook)
from tocsin.statuspage.models import (
    MaintenanceCreate,
    MaintenanceEdit,
    MaintenanceRead,
    MaintenanceUpdate,
    MaintenanceUpdateRead,
    PublicUpdateCreate,
    PublicUpdateRead,
    ScheduledMaintenance,
    StatusIncident,
    StatusIncidentCreate,
    StatusIncidentLink,
    StatusIncidentRead,
    StatusIncidentUpdate,
)
from tocsin.statuspage.rules import (
    IMPACT_STATUS,
    ComponentChange,
    ComponentStatus,
    IncidentState,
    MaintenanceStatus,
    component_changes,
    components_from_services,
    format_duration,
    format_time,
    maintenance_status,
    render_template,
    worst,
)

__all__ = [
    "Covering",
    "add_update",
    "change_impact",
    "covering_incident",
    "create_incident",
    "create_maintenance",
    "delete_maintenance",
    "edit_maintenance",
    "get_incident",
    "get_maintenance",
    "incidents_about",
    "link_incident",
    "linked_incident",
    "list_incidents",
    "list_maintenances",
    "maintenance_to_read",
    "new_code",
    "publish",
    "template_values",
    "to_read",
    "upcoming_maintenances",
]

_STATUS_IMPACT = {
    ComponentStatus.major_outage: Impact.critical,
    ComponentStatus.partial_outage: Impact.major,
    ComponentStatus.degraded_performance: Impact.minor,
}


def new_code() -> str:
    """A public id: 12 random lower-case base32 characters (60 bits), like Atlassian's."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()[:12]


def known_components(policy: Policy) -> list[str]:
    return [c.name for c in components_from_services(policy.services)]


def _check_components(policy: Policy, names: Sequence[str], field: str = "components") -> None:
    known = known_components(policy)
    for name in names:
        if name not in known:
            choices = ", ".join(known) or "none (no service has a status_page entry)"
            raise InvalidInput(field, f"unknown component {name!r}; known: {choices}")


def _resolve_states(
    requested: Mapping[str, ComponentStatus | None], impact: Impact
) -> dict[str, ComponentStatus]:
    """Components given without a state take the one their incident's impact implies."""
    return {name: status or IMPACT_STATUS[impact] for name, status in requested.items()}


def template_values(
    settings: StatusPageSettings,
    *,
    components: Sequence[str],
    started_at: datetime,
    resolved_at: datetime | None,
) -> dict[str, str]:
    """The public facts a template may use (see ``tocsin.policy.statuspage``)."""
    tz = ZoneInfo(settings.time_zone)
    return {
        "components": ", ".join(components) or "some of our services",
        "page": settings.title,
        "url": settings.url,
        "started": format_time(started_at, tz),
        "resolved": format_time(resolved_at, tz),
        "duration": format_duration(resolved_at - started_at) if resolved_at else "",
    }


def _template_body(settings: StatusPageSettings, incident: StatusIncident, status: str) -> str:
    template = settings.templates.body_for(status) or ""
    values = template_values(
        settings,
        components=list(incident.components),
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
    )
    return render_template(template, values).strip() or status.capitalize()


# ---------------------------------------------------------------- incidents


def create_incident(
    *,
    session: Session,
    policy: Policy,
    actor: str,
    data: StatusIncidentCreate,
    now: datetime,
    internal: Incident | None = None,
) -> StatusIncident:
    """Open a public incident (a draft with ``data.draft``) and post its first update.

    ``internal`` (or ``data.incident_id``) links it to the incident it is about; an
    incident has at most one status-page incident.
    """
    _check_components(policy, list(data.components))
    if internal is None and data.incident_id is not None:
        try:
            internal = incidents.get(session=session, ref=data.incident_id)
        except NotFound:
            raise InvalidInput("incident_id", f"incident {data.incident_id!r} not found") from None
    if is_drill(internal):
        raise InvalidInput("incident_id", "a drill never appears on the public status page")
    if internal is not None and linked_incident(session=session, incident=internal) is not None:
        raise Conflict(f"{format_incident_id(internal.number)} already has a status-page incident")
    explicit = [s for s in data.components.values() if s is not None]
    if data.impact is not None:
        impact = data.impact
    elif explicit:
        impact = _STATUS_IMPACT.get(worst(explicit), Impact.none)
    else:
        impact = Impact.minor  # something is wrong, nobody said how badly yet
    started_at = min(data.started_at or now, now)
    record = StatusIncident(
        code=new_code(),
        incident_id=internal.id if internal is not None else None,
        name=data.name,
        status=IncidentState.investigating.value,
        impact=impact.value,
        components={},
        started_at=started_at,
        created_at=now,
        updated_at=now,
        published_at=None if data.draft else now,
        created_by=actor,
    )
    session.add(record)
    session.flush()
    first = PublicUpdateCreate(
        status=data.status,
        body=data.body,
        components=dict(data.components),
        deliver_notifications=data.deliver_notifications,
    )
    add_update(session=session, policy=policy, actor=actor, incident=record, data=first, now=now)
    return record


def add_update(
    *,
    session: Session,
    policy: Policy,
    actor: str,
    incident: StatusIncident,
    data: PublicUpdateCreate,
    now: datetime,
    source_update_id: int | None = None,
) -> StatusIncidentUpdate:
    """Post an update: maybe a new status, impact or component states, and a body
    (default: the policy's template for the status). Resolving makes every component
    operational again; an update after resolution reopens unless it says resolved."""
    settings = policy.status_page
    if data.components:
        _check_components(policy, list(data.components))
    status = data.status or IncidentState(incident.status)
    impact = data.impact or Impact(incident.impact)
    before = {name: ComponentStatus(s) for name, s in incident.components.items()}
    after = dict(before)
    if data.components is not None:
        after.update(_resolve_states(data.components, impact))
    elif data.impact is not None:
        after = dict.fromkeys(before, IMPACT_STATUS[impact])
    if status is IncidentState.resolved:
        after = dict.fromkeys(after, ComponentStatus.operational)
        incident.resolved_at = incident.resolved_at or now
    else:
        incident.resolved_at = None
    if status is IncidentState.monitoring and incident.monitoring_at is None:
        incident.monitoring_at = now
    incident.status = status.value
    incident.impact = impact.value
    changes = _set_components(incident, after, now)
    incident.updated_at = now
    update = StatusIncidentUpdate(
        code=new_code(),
        status_incident_id=incident.id,
        status=status.value,
        body=data.body or _template_body(settings, incident, status.value),
        affected_components=[
            {"name": c.name, "old_status": c.old_status.value, "new_status": c.new_status.value}
            for c in changes
        ],
        deliver_notifications=data.deliver_notifications,
        source_update_id=source_update_id,
        created_at=now,
        display_at=now,
        created_by=actor,
    )
    incident.updates.append(update)
    session.flush()
    if incident.published_at is not None and update.deliver_notifications:
        subscribers.schedule_notification(session=session, policy=policy, update=update, now=now)
    return update


def _set_components(
    incident: StatusIncident, after: Mapping[str, ComponentStatus], now: datetime
) -> list[ComponentChange]:
    """Set the components' states and append the changes to the incident's history."""
    before = {name: ComponentStatus(s) for name, s in incident.components.items()}
    changes = component_changes(before, after)
    incident.components = {name: s.value for name, s in after.items()}
    if changes:
        incident.component_history = [
            *incident.component_history,
            *([now.isoformat(), c.name, c.new_status.value] for c in changes),
        ]
    return changes


def change_impact(
    *, session: Session, incident: StatusIncident, impact: Impact, now: datetime
) -> bool:
    """Change an open incident's impact, and with it its components' states, without
    posting an update (automation follows a severity change this way). False if
    nothing changed."""
    if incident.resolved_at is not None or incident.impact == impact.value:
        return False
    incident.impact = impact.value
    _set_components(incident, dict.fromkeys(incident.components, IMPACT_STATUS[impact]), now)
    incident.updated_at = now
    session.flush()
    return True


def publish(
    *, session: Session, policy: Policy, incident: StatusIncident, now: datetime
) -> StatusIncident:
    """Put a draft on the page. Subscribers hear about its latest update only: a burst of
    every update written while it was a draft would be noise."""
    if incident.published_at is not None:
        raise Conflict(f"status-page incident {incident.code} is already published")
    incident.published_at = now
    incident.updated_at = now
    latest = incident.updates[-1] if incident.updates else None
    if latest is not None and latest.deliver_notifications:
        subscribers.schedule_notification(session=session, policy=policy, update=latest, now=now)
    return incident


def get_incident(*, session: Session, code: str) -> StatusIncident:
    found = session.scalar(select(StatusIncident).where(StatusIncident.code == code.strip()))
    if found is None:
        raise NotFound(f"status-page incident {code!r} not found")
    return found


def linked_incident(*, session: Session, incident: Incident) -> StatusIncident | None:
    """The status-page incident about ``incident`` (opened for it, or linked to it), if
    any. (Read without flushing: :func:`create_incident` flushes every one it makes.)"""
    linked_ids = select(StatusIncidentLink.status_incident_id).where(
        StatusIncidentLink.incident_id == incident.id
    )
    with session.no_autoflush:
        return session.scalar(
            select(StatusIncident)
            .where(
                or_(
                    StatusIncident.incident_id == incident.id,
                    StatusIncident.id.in_(linked_ids),
                )
            )
            .limit(1)
        )


class Covering(NamedTuple):
    """An open status-page incident's columns (linking an incident to it needs no more)."""

    id: int
    code: str
    name: str
    impact: str


def covering_incident(*, session: Session, components: Sequence[str]) -> Covering | None:
    """The oldest unresolved status-page incident showing all of ``components``."""
    wanted = set(components)
    with session.no_autoflush:
        rows = session.execute(
            select(
                StatusIncident.id,
                StatusIncident.code,
                StatusIncident.name,
                StatusIncident.impact,
                StatusIncident.components,
            )
            .where(StatusIncident.resolved_at.is_(None))
            .order_by(StatusIncident.created_at, StatusIncident.id)
        )
        return next(
            (
                Covering(row.id, row.code, row.name, row.impact)
                for row in rows
                if wanted <= set(row.components)
            ),
            None,
        )


def link_incident(
    *, session: Session, status_incident_id: int, incident: Incident, now: datetime
) -> None:
    """Make status-page incident ``status_incident_id`` also about ``incident``."""
    session.add(
        StatusIncidentLink(
            status_incident_id=status_incident_id, incident_id=incident.id, created_at=now
        )
    )


def incidents_about(*, session: Session, status_incident: StatusIncident) -> list[int]:
    """Ids of the internal incidents ``status_incident`` is about: the one it was opened
    for first, then those linked to it, oldest first."""
    linked = session.scalars(
        select(StatusIncidentLink.incident_id)
        .where(StatusIncidentLink.status_incident_id == status_incident.id)
        .order_by(StatusIncidentLink.id)
    )
    first = [status_incident.incident_id] if status_incident.incident_id is not None else []
    return [*first, *linked]


def list_incidents(
    *,
    session: Session,
    draft: bool | None = None,
    unresolved: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[StatusIncident], int]:
    query = select(StatusIncident)
    if draft is True:
        query = query.where(StatusIncident.published_at.is_(None))
    elif draft is False:
        query = query.where(StatusIncident.published_at.is_not(None))
    if unresolved:
        query = query.where(StatusIncident.resolved_at.is_(None))
    ordered = query.order_by(StatusIncident.created_at.desc(), StatusIncident.id.desc())
    return paginate(session=session, query=ordered, limit=limit, offset=offset)


def to_read(*, session: Session, policy: Policy, incident: StatusIncident) -> StatusIncidentRead:
    about = incidents_about(session=session, status_incident=incident)
    numbers = incidents.numbers_by_id(session=session, ids=set(about))
    refs = [format_incident_id(numbers[i]) for i in about if i in numbers]
    first = incident.incident_id is not None and incident.incident_id in numbers
    return StatusIncidentRead(
        id=incident.code,
        name=incident.name,
        status=incident.status,
        impact=incident.impact,
        components=dict(incident.components),
        draft=incident.published_at is None,
        incident_id=refs[0] if first else None,
        also_about=refs[1:] if first else refs,
        started_at=incident.started_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        published_at=incident.published_at,
        monitoring_at=incident.monitoring_at,
        resolved_at=incident.resolved_at,
        created_by=incident.created_by,
        url=f"{policy.status_page.url}/incidents/{incident.code}",
        updates=[
            PublicUpdateRead(
                id=u.code,
                status=u.status,
                body=u.body,
                affected_components=list(u.affected_components),
                deliver_notifications=u.deliver_notifications,
                created_at=u.created_at,
                display_at=u.display_at,
                created_by=u.created_by,
                mirrored=u.source_update_id is not None,
            )
            for u in reversed(incident.updates)
        ],
    )


# ---------------------------------------------------------------- maintenance


def create_maintenance(
    *, session: Session, policy: Policy, actor: str, data: MaintenanceCreate, now: datetime
) -> ScheduledMaintenance:
    _check_components(policy, data.components)
    maintenance = ScheduledMaintenance(
        code=new_code(),
        name=data.name,
        status=MaintenanceStatus.scheduled.value,
        components=list(dict.fromkeys(data.components)),
        scheduled_for=data.scheduled_for,
        scheduled_until=data.scheduled_until,
        auto_transition=data.auto_transition,
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    maintenance.updates.append(
        MaintenanceUpdate(
            code=new_code(),
            status=MaintenanceStatus.scheduled.value,
            body=data.body,
            created_at=now,
            created_by=actor,
        )
    )
    session.add(maintenance)
    session.flush()
    subscribers.schedule_maintenance_notification(
        session=session, policy=policy, maintenance=maintenance, now=now
    )
    return maintenance


def edit_maintenance(
    *,
    session: Session,
    policy: Policy,
    actor: str,
    maintenance: ScheduledMaintenance,
    changes: MaintenanceEdit,
    now: datetime,
) -> ScheduledMaintenance:
    """Change the plan; a ``body`` (or a new status) is posted as an update."""
    if changes.components is not None:
        _check_components(policy, changes.components)
        maintenance.components = list(dict.fromkeys(changes.components))
    start = changes.scheduled_for or maintenance.scheduled_for
    end = changes.scheduled_until or maintenance.scheduled_until
    if end <= start:
        raise InvalidInput("scheduled_until", "must be after scheduled_for")
    maintenance.scheduled_for, maintenance.scheduled_until = start, end
    if changes.name is not None:
        maintenance.name = changes.name
    if changes.auto_transition is not None:
        maintenance.auto_transition = changes.auto_transition
    if changes.status is not None:
        maintenance.status = changes.status.value
    if changes.body is not None or changes.status is not None:
        status = effective_status(maintenance, now)
        maintenance.updates.append(
            MaintenanceUpdate(
                code=new_code(),
                status=status.value,
                body=changes.body or status.value.replace("_", " ").capitalize(),
                created_at=now,
                created_by=actor,
            )
        )
    maintenance.updated_at = now
    session.flush()
    return maintenance


def delete_maintenance(*, session: Session, maintenance: ScheduledMaintenance) -> None:
    """Cancel: the maintenance disappears from the page (as on Atlassian)."""
    session.delete(maintenance)
    session.flush()


def get_maintenance(*, session: Session, code: str) -> ScheduledMaintenance:
    found = session.scalar(
        select(ScheduledMaintenance).where(ScheduledMaintenance.code == code.strip())
    )
    if found is None:
        raise NotFound(f"scheduled maintenance {code!r} not found")
    return found


def effective_status(maintenance: ScheduledMaintenance, now: datetime) -> MaintenanceStatus:
    return maintenance_status(
        MaintenanceStatus(maintenance.status),
        maintenance.scheduled_for,
        maintenance.scheduled_until,
        auto=maintenance.auto_transition,
        now=now,
    )


def list_maintenances(
    *, session: Session, limit: int = 50, offset: int = 0
) -> tuple[list[ScheduledMaintenance], int]:
    query = select(ScheduledMaintenance).order_by(
        ScheduledMaintenance.scheduled_for.desc(), ScheduledMaintenance.id.desc()
    )
    return paginate(session=session, query=query, limit=limit, offset=offset)


def upcoming_maintenances(
    *, session: Session, start: datetime, end: datetime
) -> list[ScheduledMaintenance]:
    """The scheduled maintenances that overlap ``[start, end)`` and are not completed,
    earliest first."""
    rows = session.scalars(
        select(ScheduledMaintenance)
        .where(
            ScheduledMaintenance.scheduled_until > start,
            ScheduledMaintenance.scheduled_for < end,
        )
        .order_by(ScheduledMaintenance.scheduled_for, ScheduledMaintenance.id)
    )
    return [m for m in rows if effective_status(m, start) is not MaintenanceStatus.completed]


def maintenance_to_read(
    *, policy: Policy, maintenance: ScheduledMaintenance, now: datetime
) -> MaintenanceRead:
    return MaintenanceRead(
        id=maintenance.code,
        name=maintenance.name,
        status=effective_status(maintenance, now).value,
        components=list(maintenance.components),
        scheduled_for=maintenance.scheduled_for,
        scheduled_until=maintenance.scheduled_until,
        auto_transition=maintenance.auto_transition,
        created_at=maintenance.created_at,
        updated_at=maintenance.updated_at,
        created_by=maintenance.created_by,
        url=f"{policy.status_page.url}/maintenances/{maintenance.code}",
        updates=[
            MaintenanceUpdateRead(
                id=u.code,
                status=u.status,
                body=u.body,
                created_at=u.created_at,
                created_by=u.created_by,
            )
            for u in reversed(maintenance.updates)
        ],
    )
