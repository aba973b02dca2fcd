"""What the status page shows, as pure functions over plain data.

Nothing here touches the database, the network or the clock: ``now`` is an argument.
The vocabulary is Atlassian Statuspage's, so that the JSON API can speak its shape:

- a component is ``operational``, ``under_maintenance``, ``degraded_performance``,
  ``partial_outage`` or ``major_outage`` (worst last); its state is the worst that any
  published, unresolved incident or in-progress maintenance gives it;
- an incident has an impact (``none`` ... ``critical``); its components start at the
  state the impact implies unless the communications lead chose otherwise;
- the page's indicator is ``none``, ``minor``, ``major`` or ``critical``;
- uptime is computed from impact windows: from an incident's ``started_at`` to its
  ``resolved_at`` (or now), per component, weighted by how bad the component was, with
  time under scheduled maintenance left out.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

from tocsin.policy.statuspage import Impact

__all__ = [
    "IMPACT_STATUS",
    "Component",
    "ComponentChange",
    "ComponentStatus",
    "DayUptime",
    "ImpactWindow",
    "IncidentState",
    "Indicator",
    "MaintenanceStatus",
    "Uptime",
    "component_changes",
    "component_id",
    "component_states",
    "components_from_services",
    "format_duration",
    "format_time",
    "group_id",
    "impact_windows",
    "maintenance_status",
    "overall_status",
    "public_state",
    "render_template",
    "uptime",
    "worst",
]


class ComponentStatus(StrEnum):
    """A component's state, least bad first (the order is the ranking)."""

    operational = "operational"
    under_maintenance = "under_maintenance"
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    major_outage = "major_outage"


_RANK = {status: rank for rank, status in enumerate(ComponentStatus)}


class IncidentState(StrEnum):
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


class MaintenanceStatus(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    verifying = "verifying"
    completed = "completed"


class Indicator(StrEnum):
    none = "none"
    minor = "minor"
    major = "major"
    critical = "critical"


#: The component state an impact implies when nobody chose one.
IMPACT_STATUS: dict[Impact, ComponentStatus] = {
    Impact.none: ComponentStatus.operational,
    Impact.minor: ComponentStatus.degraded_performance,
    Impact.major: ComponentStatus.partial_outage,
    Impact.critical: ComponentStatus.major_outage,
}

_STATUS_INDICATOR = {
    ComponentStatus.operational: Indicator.none,
    ComponentStatus.under_maintenance: Indicator.none,
    ComponentStatus.degraded_performance: Indicator.minor,
    ComponentStatus.partial_outage: Indicator.major,
    ComponentStatus.major_outage: Indicator.critical,
}
_INDICATOR_RANK = {indicator: rank for rank, indicator in enumerate(Indicator)}

#: Atlassian's descriptions of the overall indicator.
_DESCRIPTIONS = {
    Indicator.none: "All Systems Operational",
    Indicator.minor: "Minor Service Outage",
    Indicator.major: "Partial System Outage",
    Indicator.critical: "Major System Outage",
}
UNDER_MAINTENANCE = "Service Under Maintenance"

#: The public state of an internal incident's status.
_PUBLIC_STATE = {
    "triggered": IncidentState.investigating,
    "acknowledged": IncidentState.investigating,
    "investigating": IncidentState.investigating,
    "identified": IncidentState.identified,
    "monitoring": IncidentState.monitoring,
    "resolved": IncidentState.resolved,
    "closed": IncidentState.resolved,
}


def public_state(internal_status: str) -> IncidentState:
    """Customers see four states; the internal lifecycle has seven."""
    return _PUBLIC_STATE.get(internal_status, IncidentState.investigating)


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=_RANK.__getitem__, default=ComponentStatus.operational)


# ---------------------------------------------------------------- components


class ServiceLike(Protocol):
    """What a policy service offers: its component name and group, if it has one."""

    @property
    def status_page(self) -> _Placement | None: ...


class _Placement(Protocol):
    @property
    def component(self) -> str: ...

    @property
    def group(self) -> str | None: ...


def _short_id(kind: str, name: str) -> str:
    """A stable 12-character id: components live in the policy, not in a table."""
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:12]


def component_id(name: str) -> str:
    return _short_id("component", name)


def group_id(name: str) -> str:
    return _short_id("group", name)


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    group: str | None
    position: int

    @property
    def group_id(self) -> str | None:
        return None if self.group is None else group_id(self.group)


def components_from_services(services: Sequence[ServiceLike]) -> list[Component]:
    """The page's components, in policy order. Services without ``status_page`` are not
    components; several services may share one component (the first one's group wins)."""
    found: dict[str, Component] = {}
    for service in services:
        placement = service.status_page
        if placement is None or placement.component in found:
            continue
        found[placement.component] = Component(
            id=component_id(placement.component),
            name=placement.component,
            group=placement.group,
            position=len(found) + 1,
        )
    return list(found.values())


def component_states(
    names: Iterable[str],
    incidents: Iterable[Mapping[str, ComponentStatus]],
    maintenances: Iterable[Iterable[str]],
) -> dict[str, ComponentStatus]:
    """Each component's current state: the worst that an open incident (its component
    map) or an in-progress maintenance (its component names) gives it."""
    states = dict.fromkeys(names, ComponentStatus.operational)
    for affected in incidents:
        for name, status in affected.items():
            if name in states:
                states[name] = worst((states[name], status))
    for components in maintenances:
        for name in components:
            if name in states:
                states[name] = worst((states[name], ComponentStatus.under_maintenance))
    return states


@dataclass(frozen=True)
class ComponentChange:
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus

    @property
    def code(self) -> str:
        return component_id(self.name)


def component_changes(
    before: Mapping[str, ComponentStatus], after: Mapping[str, ComponentStatus]
) -> list[ComponentChange]:
    """What an update changed (Atlassian's ``affected_components``); absent = operational."""
    changes = []
    for name in dict.fromkeys([*before, *after]):
        old = before.get(name, ComponentStatus.operational)
        new = after.get(name, ComponentStatus.operational)
        if old != new:
            changes.append(ComponentChange(name, old, new))
    return changes


def overall_status(
    states: Iterable[ComponentStatus], impacts: Iterable[Impact], *, maintenance: bool = False
) -> tuple[Indicator, str]:
    """The page's indicator and its description: the worse of the components' states and
    the open incidents' impacts. Maintenance alone keeps ``none``."""
    indicator = Indicator.none
    candidates = [*(_STATUS_INDICATOR[s] for s in states), *(Indicator(i.value) for i in impacts)]
    for candidate in candidates:
        if _INDICATOR_RANK[candidate] > _INDICATOR_RANK[indicator]:
            indicator = candidate
    if indicator is Indicator.none and maintenance:
        return indicator, UNDER_MAINTENANCE
    return indicator, _DESCRIPTIONS[indicator]


def maintenance_status(
    stored: MaintenanceStatus,
    scheduled_for: datetime,
    scheduled_until: datetime,
    *,
    auto: bool,
    now: datetime,
) -> MaintenanceStatus:
    """A maintenance that follows the clock starts and completes by itself; one that does
    not keeps the status it was given."""
    if stored is MaintenanceStatus.completed or not auto:
        return stored
    if now >= scheduled_until:
        return MaintenanceStatus.completed
    if now >= scheduled_for and stored is MaintenanceStatus.scheduled:
        return MaintenanceStatus.in_progress
    return stored


# ---------------------------------------------------------------- uptime


@dataclass(frozen=True)
class ImpactWindow:
    """A component in ``status`` from ``start`` until ``end`` (None: still)."""

    component: str
    start: datetime
    end: datetime | None
    status: ComponentStatus


def impact_windows(
    started_at: datetime,
    resolved_at: datetime | None,
    changes: Sequence[tuple[datetime, str, ComponentStatus]],
) -> list[ImpactWindow]:
    """One incident's windows from its component changes ``(at, component, new_status)``,
    in time order. Changes before ``started_at`` count from ``started_at`` (the first
    update usually comes after impact began); resolution ends every window."""
    windows: list[ImpactWindow] = []
    open_: dict[str, tuple[datetime, ComponentStatus]] = {}
    for at, name, status in sorted(changes, key=lambda c: c[0]):
        at = max(at, started_at)
        if resolved_at is not None and at >= resolved_at:
            break
        if name in open_:
            start, previous = open_.pop(name)
            if at > start and previous is not ComponentStatus.operational:
                windows.append(ImpactWindow(name, start, at, previous))
        open_[name] = (at, status)
    for name, (start, status) in open_.items():
        if status is not ComponentStatus.operational:
            windows.append(ImpactWindow(name, start, resolved_at, status))
    return windows


@dataclass(frozen=True)
class DayUptime:
    day: date
    downtime: timedelta
    worst: ComponentStatus
    percent: float


@dataclass(frozen=True)
class Uptime:
    percent: float
    downtime: timedelta
    days: tuple[DayUptime, ...]


def _weighted_downtime(
    start: datetime,
    end: datetime,
    windows: Sequence[ImpactWindow],
    maintenance: Sequence[tuple[datetime, datetime]],
    weights: Mapping[ComponentStatus, float],
) -> timedelta:
    """Weighted downtime within [start, end): overlapping windows count once, at the
    heaviest weight; time under maintenance counts for nothing."""
    points = {start, end}
    for w in windows:
        points.update(p for p in (w.start, w.end or end) if start < p < end)
    for m_start, m_end in maintenance:
        points.update(p for p in (m_start, m_end) if start < p < end)
    ordered = sorted(points)
    total = timedelta(0)
    for left, right in itertools.pairwise(ordered):
        if any(m_start <= left and right <= m_end for m_start, m_end in maintenance):
            continue
        weight = max(
            (
                weights.get(w.status, 0.0)
                for w in windows
                if w.start <= left and right <= (w.end or end)
            ),
            default=0.0,
        )
        total += (right - left) * weight
    return total


def uptime(
    windows: Sequence[ImpactWindow],
    maintenance: Sequence[tuple[datetime, datetime]],
    *,
    now: datetime,
    days: int,
    weights: Mapping[ComponentStatus, float],
    tz: tzinfo = UTC,
) -> Uptime:
    """One component's uptime over the ``days`` days before ``now``, and one bar per
    calendar day (in ``tz``, today last; the first is partial).

    ``windows`` are the component's impact windows, ``maintenance`` the (start, end) of
    its maintenances. Percent = 100 x (1 - weighted downtime / window length).
    """
    start = now - timedelta(days=days)
    clipped = [w for w in windows if w.start < now and (w.end is None or w.end > start)]
    downtime = _weighted_downtime(start, now, clipped, maintenance, weights)
    percent = 100.0 * (1 - downtime / (now - start))
    today = now.astimezone(tz).date()
    bars: list[DayUptime] = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        day_start = max(datetime.combine(day, time(0), tz).astimezone(UTC), start)
        day_end = min(datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC), now)
        if day_end <= day_start:
            bars.append(DayUptime(day, timedelta(0), ComponentStatus.operational, 100.0))
            continue
        lost = _weighted_downtime(day_start, day_end, clipped, maintenance, weights)
        statuses = [w.status for w in clipped if w.start < day_end and (w.end or now) > day_start]
        if any(m_start < day_end and m_end > day_start for m_start, m_end in maintenance):
            statuses.append(ComponentStatus.under_maintenance)
        bars.append(
            DayUptime(day, lost, worst(statuses), 100.0 * (1 - lost / (day_end - day_start)))
        )
    return Uptime(percent=percent, downtime=downtime, days=tuple(bars))


# ---------------------------------------------------------------- text

_FIELD = re.compile(r"\{([a-z_]+)\}")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{placeholders}``; unknown ones stay as written (the policy refuses them).

    Deliberately not ``str.format``: a template must not reach attributes of values.
    """
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def format_time(value: datetime | None, tz: tzinfo = UTC) -> str:
    """``2026-03-02 09:00 UTC`` in the page's zone; empty for None."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def format_duration(value: timedelta) -> str:
    """``3h 5m``, ``2d 4h``, ``45m``; under a minute is ``less than a minute``."""
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts[:2])
