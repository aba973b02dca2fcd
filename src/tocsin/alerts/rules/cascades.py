"""Cascades: many distinct alerts on several related services at once are one
problem, which should page once as a SEV1 "cascade failure" rather than N times.

Windows are closed at both ends: an alert exactly ``window`` old still counts, as
does one stamped exactly ``now``. Later stamps (clock skew) do not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "CascadeDecision",
    "CascadeReason",
    "RecentAlert",
    "detect_cascade",
    "service_components",
]


@dataclass(frozen=True)
class RecentAlert:
    """A firing alert as correlation sees it; ``at`` is when Tocsin received it."""

    dedup_key: str
    service: str | None
    at: datetime


class CascadeReason(StrEnum):
    cascade = "cascade"
    too_few_alerts = "too_few_alerts"
    too_few_services = "too_few_services"


@dataclass(frozen=True)
class CascadeDecision:
    """The biggest group of related alerts in the window, and whether it is a cascade.

    ``origins`` are the group's alerting services that depend on no other alerting
    service — where the failure most likely started (empty without a dependency map).
    """

    is_cascade: bool
    reason: CascadeReason
    alerts: tuple[RecentAlert, ...]
    services: tuple[str, ...]
    origins: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.is_cascade


def _in_window(at: datetime, now: datetime, window: timedelta) -> bool:
    return now - window <= at <= now


def detect_cascade(
    recent: Sequence[RecentAlert],
    now: datetime,
    window: timedelta,
    threshold_alerts: int,
    min_services: int,
    *,
    depends_on: Mapping[str, Sequence[str]] | None = None,
) -> CascadeDecision:
    """A cascade: at least ``threshold_alerts`` distinct alerts (by dedup key) on at
    least ``min_services`` services, all within ``window`` before ``now``.

    Without ``depends_on`` every alert with a service counts as related. With it
    (service -> the services it needs, as in the policy), alerts are related when
    their services are connected through dependencies, directly or through services
    that are not alerting; the largest connected group is judged. Alerts without a
    service are never related to anything.
    """
    latest: dict[str, RecentAlert] = {}
    for alert in recent:
        if alert.service is not None and _in_window(alert.at, now, window):
            kept = latest.get(alert.dedup_key)
            if kept is None or alert.at > kept.at:
                latest[alert.dedup_key] = alert
    groups = _groups(list(latest.values()), depends_on)
    best = max(groups, key=lambda g: (len(g), len({a.service for a in g})), default=[])
    alerts = tuple(sorted(best, key=lambda a: (a.at, a.dedup_key)))
    services = tuple(sorted({a.service for a in alerts if a.service is not None}))
    if len(alerts) < threshold_alerts:
        reason = CascadeReason.too_few_alerts
    elif len(services) < min_services:
        reason = CascadeReason.too_few_services
    else:
        reason = CascadeReason.cascade
    origins = _origins(services, depends_on) if depends_on is not None else ()
    return CascadeDecision(reason is CascadeReason.cascade, reason, alerts, services, origins)


def service_components(depends_on: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Each service named in ``depends_on`` -> a name for the group of services connected
    to it by dependencies, in either direction and through any services (the sorted
    member names joined by commas)."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for service, needs in depends_on.items():
        find(service)
        for need in needs:
            parent[find(service)] = find(need)
    members: dict[str, list[str]] = {}
    for name in list(parent):
        members.setdefault(find(name), []).append(name)
    return {name: ",".join(sorted(members[find(name)])) for name in parent}


def _groups(
    alerts: list[RecentAlert], depends_on: Mapping[str, Sequence[str]] | None
) -> list[list[RecentAlert]]:
    if depends_on is None:
        return [alerts]
    components = service_components(depends_on)
    groups: dict[str, list[RecentAlert]] = {}
    for alert in alerts:
        assert alert.service is not None
        groups.setdefault(components.get(alert.service, alert.service), []).append(alert)
    return list(groups.values())


def _origins(services: Iterable[str], depends_on: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    alerting = set(services)

    def needs_alerting(start: str) -> bool:
        seen: set[str] = set()
        stack = list(depends_on.get(start, ()))
        while stack:
            name = stack.pop()
            if name in alerting:
                return True
            if name not in seen:
                seen.add(name)
                stack.extend(depends_on.get(name, ()))
        return False

    return tuple(sorted(s for s in alerting if not needs_alerting(s)))
