"""The storm stage of the pipeline: a burst of distinct alerts becomes one incident.

:meth:`Storms.take` is asked about every alert that is about to open an incident of
its own. While fewer than ``threshold`` new alert groups opened incidents for the
alert's service (or integration) within ``window``, it lets the alert go on; the next
one opens an "alert storm" incident instead, which pages once. The incidents that
alerts of the same burst opened within the window are merged into it: their alerts
move over, their escalations stop (they are resolved, and their timelines say where
they went). Further new alerts of the scope join the storm for as long as they keep
coming within the window of each other. Incidents a person declared, or that opened
before the window, are never merged.

Joining a storm costs about what a repeat costs: a link row and an outcome, no
timeline entry per alert. :meth:`Storms.finish` writes, once per ingest call, the
storm's counts (:class:`~tocsin.alerts.bulk_models.AlertStorm`), its title and, at
most once a minute (or when it doubled), a timeline entry saying how it grew.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.sql import ClauseElement

from tocsin.alerts.bulk_models import AlertStorm
from tocsin.alerts.linking import Context, declare, group_hash, link, ref, set_severity
from tocsin.alerts.models import Alert, AlertLink
from tocsin.alerts.rules import AlertOutcome
from tocsin.alerts.rules.routing import RouteDecision
from tocsin.alerts.rules.storms import (
    count_alert,
    describe_storm,
    merge_counts,
    storm_begins,
    storm_title,
)
from tocsin.alerts.triage import Triage
from tocsin.db.direct import DirectStatement
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus
from tocsin.incidents.timeline import SYSTEM_ACTOR
from tocsin.policy import format_duration
from tocsin.policy.alerting import StormSettings

__all__ = ["STORM_REASON", "Storms"]


def _link_insert(_dialect: str) -> ClauseElement:
    table = cast(Table, AlertLink.__table__)
    return insert(table).values(
        incident_id=bindparam("incident_id"),
        alert_id=bindparam("alert_id"),
        reason=bindparam("reason"),
        group_hash=bindparam("group_hash"),
        linked_at=bindparam("linked_at", type_=table.c.linked_at.type),
    )


#: A storm's links to its new members (thousands at a time).
_LINK_INSERT = DirectStatement(_link_insert, copy=True)

#: A new alert inserted on a storm: (id, labels, severity).
Member = tuple[int, Mapping[str, str], str]
#: The link reason of an alert that joined a storm (and of one merged into it).
STORM_REASON = "storm"
MERGED_REASON = "merged"
_ACTIVE = {s.value for s in ACTIVE_STATUSES}
#: The storm's timeline says how it grew at most this often (or when it doubled).
_NOTE_EVERY = timedelta(minutes=1)
#: The prefix of the scope keys of a drill's storms: they never meet a real storm.
_DRILL_SCOPE = "drill|"


@dataclass
class _Scope:
    """One service (or integration) during one ingest call."""

    key: str
    name: str
    settings: StormSettings
    #: New alert groups that opened incidents within the window (read once, then counted).
    opened: int
    #: The live storm incident, once found or opened.
    incident: Incident | None = None
    #: New alert groups of this call not decided yet (see :meth:`Storms.preview`).
    pending: set[str] = field(default_factory=set)

    @property
    def ghash(self) -> str:
        return group_hash(f"storm:{self.key}")


@dataclass
class _Growth:
    """What joined one storm during this call."""

    scope: _Scope
    alerts: int = 0
    alertnames: dict[str, int] = field(default_factory=dict)
    label_values: dict[str, int] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    row: AlertStorm | None = None


class Storms:
    """The storm stage of one ingest call (see the module's docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._scopes: dict[str, _Scope] = {}
        self._growth: dict[int, _Growth] = {}
        #: Scope key -> the call's new alert groups in it (from :meth:`preview`).
        self._previewed: dict[str, set[str]] = {}

    def preview(self, triages: Iterable[Triage]) -> None:
        """The call's new firings that may open incidents, before any is decided: a
        webhook that brings more new alert groups than the threshold opens the storm
        with its first alert instead of opening incidents only to merge them."""
        window = self.ctx.policy.alerting.correlation_window
        for triage in triages:
            chosen = triage.chosen
            settings = chosen.storm or self.ctx.policy.alerting.storm
            if not settings.enabled:
                continue
            known = self.ctx.latest_links.get(group_hash(triage.group_key))
            if known is not None and known[1] >= self.ctx.now - window:
                continue  # its group feeds an incident already
            key, _ = self._key(settings, chosen.service)
            self._previewed.setdefault(key, set()).add(triage.group_key)

    # ------------------------------------------------------------ deciding

    def take(self, alert: Alert, decision: RouteDecision) -> bool:
        """``alert`` is about to open an incident of its own: True when it joined (or
        opened) a storm instead. Otherwise it is counted as a new alert group."""
        settings = decision.storm or self.ctx.policy.alerting.storm
        if not settings.enabled:
            return False
        scope = self._scope(alert.service, settings)
        if scope.incident is not None and scope.incident.status in _ACTIVE:
            self.join(scope.incident, alert)
            return True
        scope.pending.discard(alert.group_key)
        if not storm_begins(scope.opened + len(scope.pending), settings.threshold):
            scope.opened += 1
            return False
        scope.incident = self._open(scope, alert, decision)
        return True

    def join(self, storm: Incident, alert: Alert) -> None:
        """Put ``alert`` on ``storm``: a link and an outcome; counted in :meth:`finish`."""
        growth = self._growth[storm.id]
        link(self.ctx, storm, alert, STORM_REASON, growth.scope.ghash)
        alert.incident_id = storm.id
        alert.outcome = AlertOutcome.attached.value
        growth.alerts += 1
        count_alert(alert.labels, growth.alertnames, growth.label_values)
        wanted = self.ctx.policy.severity(alert.severity)
        if wanted.rank < storm.severity_rank and storm.status != IncidentStatus.closed:
            set_severity(self.ctx, storm, wanted.name)

    def _key(self, settings: StormSettings, service: str | None) -> tuple[str, str]:
        """``(scope key, what people call it)``."""
        drill = _DRILL_SCOPE if self.ctx.is_drill else ""
        if settings.scope == "service" and service:
            return f"{drill}service:{service}", service
        return f"{drill}integration:{self.ctx.integration.id}", self.ctx.integration.name

    def live_storm(self, triage: Triage) -> Incident | None:
        """The live storm a new alert with this triage would join, if any: asked before
        the batch's new alerts are inserted, so that they are inserted as its members
        (see :meth:`joined`) instead of being inserted and then decided one by one."""
        settings = triage.chosen.storm or self.ctx.policy.alerting.storm
        if not settings.enabled:
            return None
        scope = self._scope(triage.chosen.service, settings)
        if scope.incident is None or scope.incident.status not in _ACTIVE:
            return None
        return scope.incident

    def joined(
        self, storm: Incident, members: Sequence[tuple[int, Mapping[str, str], str]]
    ) -> None:
        """New alerts ``(id, labels, severity)`` inserted already on ``storm``: their links
        (one statement), their counts and the storm's severity."""
        if not members:
            return
        growth = self._growth[storm.id]
        ctx = self.ctx
        _LINK_INSERT.execute_many(
            ctx.session,
            [
                {
                    "incident_id": storm.id,
                    "alert_id": alert_id,
                    "reason": STORM_REASON,
                    "group_hash": growth.scope.ghash,
                    "linked_at": ctx.now,
                }
                for alert_id, _, _ in members
            ],
        )
        ctx.latest_links[growth.scope.ghash] = (storm.id, ctx.now)
        worst = storm.severity_rank
        worst_name = None
        for _, labels, severity in members:
            count_alert(labels, growth.alertnames, growth.label_values)
            rank = ctx.policy.severity(severity).rank
            if rank < worst:
                worst, worst_name = rank, severity
        growth.alerts += len(members)
        if worst_name is not None and storm.status != IncidentStatus.closed:
            set_severity(ctx, storm, ctx.policy.severity(worst_name).name)

    def _scope(self, service: str | None, settings: StormSettings) -> _Scope:
        key, name = self._key(settings, service)
        scope = self._scopes.get(key)
        if scope is None:
            scope = _Scope(key, name, settings, opened=0)
            scope.pending = set(self._previewed.get(key, ()))
            scope.incident = self._live(scope)
            if scope.incident is None:
                scope.opened = len(self._recent(scope))
            self._scopes[key] = scope
        return scope

    def _scope_filter(self, scope: _Scope) -> list[object]:
        kind, _, value = scope.key.removeprefix(_DRILL_SCOPE).partition(":")
        since = self.ctx.now - scope.settings.window
        column = Alert.service == value if kind == "service" else Alert.integration_id == int(value)
        return [
            column,
            Alert.fired_at >= since,
            Alert.outcome == AlertOutcome.new_incident.value,
            Alert.drill.is_(self.ctx.is_drill),
        ]

    def _recent(self, scope: _Scope) -> list[int]:
        """Incidents that new alert groups of the scope opened within the window."""
        rows = self.ctx.session.scalars(
            select(Alert.incident_id).where(*self._scope_filter(scope)).distinct()  # type: ignore[arg-type]
        )
        return [incident_id for incident_id in rows if incident_id is not None]

    def _live(self, scope: _Scope) -> Incident | None:
        """The scope's storm incident while alerts keep joining it within the window."""
        row = self.ctx.session.execute(
            select(AlertLink.incident_id, AlertLink.linked_at)
            .where(AlertLink.group_hash == scope.ghash)
            .order_by(AlertLink.linked_at.desc())
            .limit(1)
        ).first()
        if row is None or row.linked_at < self.ctx.now - scope.settings.window:
            return None
        incident = self.ctx.incident(row.incident_id)
        if incident is None or incident.status not in _ACTIVE:
            return None
        self._track(incident, scope)
        return incident

    def _track(self, incident: Incident, scope: _Scope) -> _Growth:
        growth = self._growth.get(incident.id)
        if growth is None:
            growth = self._growth[incident.id] = _Growth(scope)
        return growth

    # ------------------------------------------------------------ opening

    def _open(self, scope: _Scope, alert: Alert, decision: RouteDecision) -> Incident:
        ctx, settings = self.ctx, scope.settings
        since = ctx.now - settings.window
        merging = [
            incident
            for incident in (ctx.incident(i) for i in sorted(set(self._recent(scope))))
            if incident is not None
            and incident.status in _ACTIVE
            and incident.created_by == SYSTEM_ACTOR
            and incident.created_at >= since
        ]
        moved = [
            ctx.session.scalars(select(Alert).where(Alert.incident_id == incident.id)).all()
            for incident in merging
        ]
        alertnames: dict[str, int] = {}
        label_values: dict[str, int] = {}
        for moving in [alert, *(a for group in moved for a in group)]:
            count_alert(moving.labels, alertnames, label_values)
        count = 1 + sum(len(group) for group in moved)
        severities = [alert.severity, *(i.severity for i in merging)]
        worst = min((ctx.policy.severity(s) for s in severities), key=lambda s: s.rank)
        storm = declare(
            ctx,
            alert,
            title=storm_title(scope.name, count, alertnames),
            severity=worst.name,
            service=decision.service,
            escalation_policy=decision.escalation_policy,
            detected_at=min([alert.fired_at, *(i.detected_at for i in merging)]),
            description=describe_storm(
                scope.name, count, settings.window, settings.threshold, alertnames, label_values
            ),
        )
        link(ctx, storm, alert, STORM_REASON, scope.ghash)
        alert.incident_id = storm.id
        alert.outcome = AlertOutcome.new_incident.value
        growth = self._track(storm, scope)
        growth.row = AlertStorm(
            incident_id=storm.id,
            scope=scope.key,
            alert_count=count,
            alertnames=alertnames,
            label_values=merge_counts({}, label_values),
            merged=[ref(i) for i in merging],
            started_at=min([ctx.now, *(i.created_at for i in merging)]),
            updated_at=ctx.now,
            noted_at=ctx.now,
            noted_count=count,
        )
        ctx.session.add(growth.row)
        span = format_duration(settings.window)
        merged = f". Merged {', '.join(ref(i) for i in merging)} ({count - 1} alerts)"
        ctx.timeline(
            storm,
            "storm_detected",
            f"Alert storm: more than {settings.threshold} new alert groups on {scope.name} "
            f"within {span}; new alerts join this incident instead of paging on their own"
            + (merged if merging else ""),
            scope=scope.key,
            merged=[ref(i) for i in merging],
            alerts=count,
        )
        for incident, group in zip(merging, moved, strict=True):
            self._merge(storm, incident, group)
        return storm

    def _merge(self, storm: Incident, incident: Incident, alerts: Sequence[Alert]) -> None:
        ctx = self.ctx
        for moving in alerts:
            # Under the alert's own group, so that its group now feeds the storm.
            link(ctx, storm, moving, MERGED_REASON, group_hash(moving.group_key))
            moving.incident_id = storm.id
        ctx.timeline(
            incident,
            "merged_into",
            f"Merged into alert storm {ref(storm)} with its {len(alerts)} alert(s): "
            "its escalation stops here",
            storm=ref(storm),
        )
        incidents.transition(
            session=ctx.session,
            policy=ctx.policy,
            incident=incident,
            actor=SYSTEM_ACTOR,
            target=IncidentStatus.resolved,
            now=ctx.now,
        )

    # ------------------------------------------------------------ after the call

    def finish(self) -> None:
        """Write what joined each storm during this call (once per call)."""
        ctx = self.ctx
        for incident_id, growth in self._growth.items():
            if growth.alerts == 0:
                continue
            row = growth.row or ctx.session.get(AlertStorm, incident_id)
            storm = ctx.incident(incident_id)
            if row is None or storm is None:
                continue
            row.alert_count += growth.alerts
            row.alertnames = merge_counts(row.alertnames, growth.alertnames)
            row.label_values = merge_counts(row.label_values, growth.label_values)
            row.updated_at = ctx.now
            if storm.status != IncidentStatus.closed:
                settings = growth.scope.settings
                storm.title = storm_title(growth.scope.name, row.alert_count, row.alertnames)
                storm.description = describe_storm(
                    growth.scope.name,
                    row.alert_count,
                    settings.window,
                    settings.threshold,
                    row.alertnames,
                    row.label_values,
                )
                storm.updated_at = ctx.now
            if growth.row is not None:  # opened during this call: its title says it all
                row.noted_count = row.alert_count
            elif ctx.now - row.noted_at >= _NOTE_EVERY or row.alert_count >= 2 * row.noted_count:
                ctx.timeline(
                    storm,
                    "storm_grew",
                    f"Alert storm grew to {row.alert_count:,} alerts "
                    f"(+{row.alert_count - row.noted_count:,})",
                    alerts=row.alert_count,
                )
                row.noted_at, row.noted_count = ctx.now, row.alert_count
            if storm.status == IncidentStatus.monitoring:  # the problem is back
                incidents.transition(
                    session=ctx.session,
                    policy=ctx.policy,
                    incident=storm,
                    actor=SYSTEM_ACTOR,
                    target=IncidentStatus.investigating,
                    now=ctx.now,
                )
