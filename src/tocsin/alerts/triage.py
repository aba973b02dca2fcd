"""The decisions about an event that need no incident: its route, whether a silence
or a maintenance window mutes it, and whether it belongs to a cascade.

A :class:`Triager` serves one ingest call: it loads the active silences at most once
and judges cascades once for the whole batch (:meth:`Triager.cascades`), over the
recent firing alerts plus the batch's new firings, so that a webhook that starts a
cascade pages once rather than once per alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, func, select, union_all
from sqlalchemy.orm import Session

from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import Context, IngestNote, group_hash, live_group_incident
from tocsin.alerts.models import Alert
from tocsin.alerts.rules import (
    AlertOutcome,
    MaintenanceWindow,
    RecentAlert,
    RouteDecision,
    Silence,
    detect_cascade,
    group_key,
    in_maintenance,
    route,
    silenced_by,
)
from tocsin.alerts.rules.cascades import service_components
from tocsin.alerts.sanitize import clean_text
from tocsin.alerts.silencing import active_silences
from tocsin.policy import Policy

__all__ = ["MUTED", "CascadeJoin", "Triage", "Triager", "route_text"]

#: Outcomes of a muted alert (a repeat of one is judged again: the mute may be over).
MUTED = (AlertOutcome.silenced.value, AlertOutcome.maintenance.value)
#: Outcomes of firing alerts that count towards a cascade (muted ones do not).
_CASCADE_COUNTED = (
    AlertOutcome.new_incident.value,
    AlertOutcome.attached.value,
    AlertOutcome.cascade.value,
    AlertOutcome.below_threshold.value,
    IngestNote.reopened.value,
)
#: At most this many recent alerts are judged for a cascade (the newest).
_CASCADE_SCAN = 10_000


@cache
def _firing_counts_statement(services: int, cap: int) -> Select[str, int]:
    """Firing alerts per service (bound as ``s0``, ``s1``…), each counted up to ``cap``:
    one statement for a component's services, built once per size. A batch's cascade
    check runs it in every transaction, and building the statement costs more than
    running it."""
    capped = [
        select(Alert.service)
        .where(
            Alert.service == bindparam(f"s{n}"),
            Alert.fired_at >= bindparam("since"),
            Alert.status == "firing",
            Alert.outcome.in_(_CASCADE_COUNTED),
            Alert.drill == bindparam("drill"),
        )
        .limit(cap)
        .subquery()
        for n in range(services)
    ]
    firing = union_all(*(select(part.c.service) for part in capped)).subquery()
    return select(firing.c.service, func.count()).group_by(firing.c.service)


@dataclass
class Triage:
    """The routing and muting of one firing event."""

    decisions: list[RouteDecision]
    #: The first decision that opens incidents (else the first): it decides.
    chosen: RouteDecision
    group_key: str
    #: (silenced | maintenance, ``silence:<id>`` | ``maintenance:<service>``)
    muted: tuple[AlertOutcome, str] | None
    #: The decision whose route is a heartbeat, if any.
    heartbeat: RouteDecision | None


@dataclass
class CascadeJoin:
    """Events of the batch that belong to a cascade, and what its incident needs."""

    ghash: str
    services: tuple[str, ...]
    origins: tuple[str, ...] = ()
    #: Stored alerts of the cascade (ids), linked when its incident opens.
    members: list[int] = field(default_factory=list)


def route_text(decision: RouteDecision) -> str:
    """``default/checkout``: how a route path is stored."""
    return clean_text("/".join(decision.route_path))[:500]


class Triager:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session: Session = ctx.session
        self.policy: Policy = ctx.policy
        self.now: datetime = ctx.now
        self._silences: list[Silence] | None = None
        self._windows: tuple[MaintenanceWindow, ...] | None = None
        self._components: dict[str, str] | None = None

    def triage(self, event: InboundAlert) -> Triage:
        decisions = route(
            self.policy.routes,
            event,
            policy=self.policy,
            default_service=self.ctx.integration.service,
        )
        chosen = next((d for d in decisions if d.open_incident), decisions[0])
        muted: tuple[AlertOutcome, str] | None = None
        silence = silenced_by(self._active_silences(), event.labels, self.now)
        if silence is not None:
            muted = (AlertOutcome.silenced, f"silence:{silence.id}")
        else:
            window = in_maintenance(self._maintenance(), chosen.service, self.now)
            if window is not None:
                muted = (AlertOutcome.maintenance, f"maintenance:{window.service}"[:200])
        heartbeat = next((d for d in decisions if d.heartbeat is not None), None)
        # PagerDuty's events carry no alertname: each dedup_key is its own alert group
        # unless they have a label the route groups by (source, component, group, class)
        own = event.dedup_key if event.source == "pagerduty" else None
        key = clean_text(group_key(chosen, event.labels, alert_key=own))
        if self.ctx.is_drill:
            # A drill's alerts form groups of their own and never ping a heartbeat.
            heartbeat, key = None, f"drill|{key}"

        return Triage(decisions, chosen, key, muted, heartbeat)

    def _active_silences(self) -> list[Silence]:
        if self._silences is None:
            self._silences = active_silences(session=self.session, now=self.now)
        return self._silences

    def _maintenance(self) -> tuple[MaintenanceWindow, ...]:
        if self._windows is None:
            windows = self.policy.alerting.maintenance_windows
            self._windows = MaintenanceWindow.all_from_policy(windows)
        return self._windows

    # ------------------------------------------------------------ cascades

    def cascades(self, candidates: Sequence[tuple[int, str, Triage]]) -> dict[int, CascadeJoin]:
        """Which of the batch's new firings (``(index, dedup key, triage)``) join a
        cascade: one whose incident is still live, or one this batch completes."""
        by_component: dict[str, list[tuple[int, str, str]]] = {}
        for index, key, triage in candidates:
            service = triage.chosen.service
            if triage.muted is None and triage.chosen.open_incident and service is not None:
                by_component.setdefault(self._component(service), []).append((index, key, service))
        joins: dict[int, CascadeJoin] = {}
        settings = self.policy.alerting
        window = settings.cascade_window
        integration_id = self.ctx.integration.id
        for component, members in by_component.items():
            ghash = group_hash(f"cascade:{component}")
            live, _ = live_group_incident(self.ctx, ghash, window, exclude=None)
            if live is not None:
                join = CascadeJoin(ghash, tuple(sorted({s for _, _, s in members})))
                joins.update((index, join) for index, _, _ in members)
                continue
            related = self._firing_counts(
                window,
                settings.cascade.min_alerts,
                [s.name for s in self.policy.services if self._component(s.name) == component],
            )
            services = set(related) | {s for _, _, s in members}
            if (
                len(services) < settings.cascade.min_services
                or sum(related.values()) + len(members) < settings.cascade.min_alerts
            ):
                continue  # cannot be a cascade: no need to look at the alerts themselves
            pool = self._recent(window, sorted(related))
            pool += [(RecentAlert(f"{integration_id}:{k}", s, self.now), -1) for _, k, s in members]
            decision = detect_cascade(
                [r for r, _ in pool],
                self.now,
                window,
                settings.cascade.min_alerts,
                settings.cascade.min_services,
                depends_on=self._depends_on(),
            )
            if not decision:
                continue
            chosen = {a.dedup_key for a in decision.alerts}
            stored = [alert_id for r, alert_id in pool if alert_id >= 0 and r.dedup_key in chosen]
            join = CascadeJoin(ghash, decision.services, decision.origins, stored)
            joins.update(
                (index, join) for index, k, _ in members if f"{integration_id}:{k}" in chosen
            )
        return joins

    def _firing_counts(
        self, window: timedelta, cap: int, services: Sequence[str]
    ) -> dict[str, int]:
        """Firing alerts that count towards a cascade, per service, each counted only up
        to ``cap`` (all a cascade needs to know): a storm of thousands of firing alerts
        on one service costs no more to judge than a few."""
        if not services:
            return {}
        params: dict[str, object] = {f"s{n}": name for n, name in enumerate(services)}
        params.update(since=self.now - window, drill=self.ctx.is_drill)
        rows = self.session.execute(_firing_counts_statement(len(services), cap), params)
        return {service: int(count) for service, count in rows if count}

    def _recent(self, window: timedelta, services: list[str]) -> list[tuple[RecentAlert, int]]:
        rows = self.session.execute(
            select(Alert.id, Alert.integration_id, Alert.dedup_key, Alert.service, Alert.fired_at)
            .where(
                Alert.status == "firing",
                Alert.fired_at >= self.now - window,
                Alert.outcome.in_(_CASCADE_COUNTED),
                Alert.service.in_(services),
                Alert.drill.is_(self.ctx.is_drill),
            )
            .order_by(Alert.fired_at.desc())
            .limit(_CASCADE_SCAN)
        )
        return [
            (RecentAlert(f"{r.integration_id}:{r.dedup_key}", r.service, r.fired_at), r.id)
            for r in rows
        ]

    def _depends_on(self) -> dict[str, tuple[str, ...]] | None:
        """The services' dependencies; None (every service related) when none are declared."""
        graph = {s.name: s.depends_on for s in self.policy.services}
        return graph if any(graph.values()) else None

    def _component(self, service: str) -> str:
        """A name for the group of services connected to ``service`` by dependencies
        (in either direction, through any services), as :func:`detect_cascade` groups."""
        if self._components is None:
            self._components = _components(self._depends_on())
        if not self._components:
            return "*"
        return self._components.get(service, service)


def _components(graph: dict[str, tuple[str, ...]] | None) -> dict[str, str]:
    return {} if graph is None else service_components(graph)
