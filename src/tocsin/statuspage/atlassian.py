"""The public view in the shape of Atlassian Statuspage's public API (``/api/v2/*.json``),
so that widgets, bots and aggregators written for Statuspage read Tocsin's page as is.

Field names and JSON types follow Atlassian's documented ``summary.json``; values that
Tocsin has no notion of take Atlassian's "unused" value (``showcase`` true,
``start_date``/``description``/``custom_tweet``/``tweet_id`` null). Timestamps are UTC
ISO-8601 with milliseconds, as Atlassian writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tocsin.statuspage.public import (
    PageView,
    PublicComponent,
    PublicGroup,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
)
from tocsin.statuspage.rules import component_id

__all__ = [
    "components_json",
    "incidents_json",
    "maintenances_json",
    "page_json",
    "status_json",
    "summary_json",
    "timestamp",
]

JSON = dict[str, Any]


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_json(view: PageView) -> JSON:
    return {
        "id": view.id,
        "name": view.name,
        "url": view.url,
        "time_zone": view.time_zone,
        "updated_at": timestamp(view.updated_at),
    }


def _component(view: PageView, component: PublicComponent, position: int) -> JSON:
    return {
        "id": component.id,
        "name": component.name,
        "status": component.status.value,
        "created_at": timestamp(component.created_at),
        "updated_at": timestamp(component.updated_at),
        "position": position,
        "description": None,
        "showcase": True,
        "start_date": None,
        "group_id": component.component.group_id,
        "page_id": view.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _group(view: PageView, group: PublicGroup) -> JSON:
    members = group.components
    return {
        "id": group.id,
        "name": group.name,
        "status": group.status.value,
        "created_at": timestamp(min(c.created_at for c in members)),
        "updated_at": timestamp(max(c.updated_at for c in members)),
        "position": group.position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": view.id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.id for c in members],
    }


def _all_components(view: PageView) -> list[JSON]:
    """Groups and components as Atlassian lists them: a group is a component with
    ``group: true`` and its members' ids; members carry the group's id."""
    out: list[JSON] = []
    for item in view.layout:
        if isinstance(item, PublicGroup):
            out.append(_group(view, item))
            out.extend(_component(view, c, i) for i, c in enumerate(item.components, 1))
        else:
            out.append(_component(view, item, _position(view, item)))
    return out


def _position(view: PageView, component: PublicComponent) -> int:
    return next(i for i, item in enumerate(view.layout, 1) if item is component)


def _components_named(view: PageView, names: Iterable[str]) -> list[JSON]:
    """The listed components as in ``components.json`` (components no longer in the
    policy are left out)."""
    by_name = {c["name"]: c for c in _all_components(view) if not c["group"]}
    return [by_name[name] for name in names if name in by_name]


def _update(update: PublicUpdate, parent: str) -> JSON:
    affected = [
        {
            "code": component_id(c.name),
            "name": c.name,
            "old_status": c.old_status.value,
            "new_status": c.new_status.value,
        }
        for c in update.affected
    ]
    return {
        "id": update.id,
        "status": update.status,
        "body": update.body,
        "incident_id": parent,
        "created_at": timestamp(update.created_at),
        "updated_at": timestamp(update.created_at),
        "display_at": timestamp(update.display_at),
        "affected_components": affected or None,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def _incident(view: PageView, incident: PublicIncident) -> JSON:
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status.value,
        "created_at": timestamp(incident.published_at),
        "updated_at": timestamp(incident.updated_at),
        "monitoring_at": timestamp(incident.monitoring_at),
        "resolved_at": timestamp(incident.resolved_at),
        "impact": incident.impact.value,
        "shortlink": f"{view.url}/incidents/{incident.id}",
        "started_at": timestamp(incident.started_at),
        "page_id": view.id,
        "incident_updates": [_update(u, incident.id) for u in incident.updates],
        "components": _components_named(view, incident.components),
    }


def _maintenance(view: PageView, maintenance: PublicMaintenance) -> JSON:
    return {
        "id": maintenance.id,
        "name": maintenance.name,
        "status": maintenance.status.value,
        "created_at": timestamp(maintenance.created_at),
        "updated_at": timestamp(maintenance.updated_at),
        "monitoring_at": None,
        "resolved_at": timestamp(maintenance.completed_at),
        "impact": "maintenance",
        "shortlink": f"{view.url}/maintenances/{maintenance.id}",
        "started_at": timestamp(maintenance.scheduled_for),
        "page_id": view.id,
        "incident_updates": [_update(u, maintenance.id) for u in maintenance.updates],
        "components": _components_named(view, maintenance.components),
        "scheduled_for": timestamp(maintenance.scheduled_for),
        "scheduled_until": timestamp(maintenance.scheduled_until),
    }


def status_json(view: PageView) -> JSON:
    return {
        "page": page_json(view),
        "status": {"indicator": view.indicator.value, "description": view.description},
    }


def components_json(view: PageView) -> JSON:
    return {"page": page_json(view), "components": _all_components(view)}


def incidents_json(view: PageView, *, unresolved: bool = False) -> JSON:
    incidents = view.unresolved if unresolved else view.recent
    return {"page": page_json(view), "incidents": [_incident(view, i) for i in incidents]}


def maintenances_json(view: PageView, *, which: str = "all") -> JSON:
    """``all`` (recent), ``upcoming`` (scheduled) or ``active`` (in progress/verifying)."""
    if which == "upcoming":
        chosen = [m for m in view.maintenances if not m.active]
    elif which == "active":
        chosen = [m for m in view.maintenances if m.active]
    else:
        chosen = list(view.recent_maintenances)
    return {
        "page": page_json(view),
        "scheduled_maintenances": [_maintenance(view, m) for m in chosen],
    }


def summary_json(view: PageView) -> JSON:
    """Status, components, unresolved incidents, upcoming and in-progress maintenance."""
    return {
        "page": page_json(view),
        "components": _all_components(view),
        "incidents": [_incident(view, i) for i in view.unresolved],
        "scheduled_maintenances": [_maintenance(view, m) for m in view.maintenances],
        "status": {"indicator": view.indicator.value, "description": view.description},
    }
