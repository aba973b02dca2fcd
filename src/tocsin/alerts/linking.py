"""The incident side of the pipeline: which incident an alert feeds, and what that
does to the incident (attach, reopen, declare, resolve, acknowledge). Cascades and
flapping build on these in :mod:`tocsin.alerts.correlating`.

Everything goes through :mod:`tocsin.incidents.service`, so paging, timers and the
timeline follow the same rules as for a human's action; the actor is Tocsin itself.

Groups: an alert group (its route's ``group_by`` labels and service, or a cascade's
related services) is identified by a hash on :class:`AlertLink` rows. The newest link
of a group names the incident the group feeds. A new alert joins that incident while
it is active and the group is alive: its last alert arrived within the correlation
window, or one of its alerts on that incident still fires. A resolved incident is
reopened only within ``reopen_window`` of its resolution; after that a new incident
opens whose timeline says which one it follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, AlertLink, Integration
from tocsin.alerts.rules import AlertOutcome, RouteDecision
from tocsin.incidents import service as incidents
from tocsin.incidents.drills import DrillPlan
from tocsin.incidents.models import Incident, IncidentCreate, IncidentUpdate
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, format_duration

__all__ = [
    "Context",
    "IngestNote",
    "Outcome",
    "StormStage",
    "acknowledge_for",
    "alert_data",
    "alert_title",
    "attach",
    "attach_waiting",
    "declare",
    "group_hash",
    "link",
    "live_group_incident",
    "place",
    "preload_latest_links",
    "record_follows",
    "ref",
    "reopen",
    "resolve_incidents",
    "set_severity",
]

_ACTIVE = {s.value for s in ACTIVE_STATUSES}
_DESCRIPTION_MAX = 50_000


class IngestNote(StrEnum):
    """Outcomes beyond :class:`AlertOutcome` (which lives in the pure rules)."""

    reopened = "reopened"  # it reopened its group's recently resolved incident
    acknowledged = "acknowledged"  # a PagerDuty acknowledge for a stored alert
    unknown_alert = "unknown_alert"  # a PagerDuty acknowledge/resolve for an alert never received


Outcome = AlertOutcome | IngestNote


@dataclass
class Context:
    """One ingest call: the caller's session, the policy and the receiving integration."""

    session: Session
    policy: Policy
    integration: Integration
    now: datetime
    #: Cascade incidents opened or found during this call, by group hash.
    cascades: dict[str, Incident] = field(default_factory=dict)
    #: A game day's alerts: the incidents they open are this drill, and they correlate
    #: only with other drill alerts (see :attr:`is_drill`).
    drill: DrillPlan | None = None

    @property
    def is_drill(self) -> bool:
        return self.drill is not None

    def timeline(self, incident: Incident, kind: str, summary: str, **data: Any) -> None:
        record(
            session=self.session,
            incident=incident,
            now=self.now,
            actor=SYSTEM_ACTOR,
            kind=kind,
            summary=summary,
            data={"integration": self.integration.name, **data},
        )

    #: Alerts created during this call (they have no links yet, unless made here).
    fresh: set[int] = field(default_factory=set)
    linked: set[tuple[int, int]] = field(default_factory=set)
    #: Each group's newest link, ``(incident id, linked at)``, as read or written during
    #: this call (links only change through :func:`link`, which keeps this up to date).
    #: None: the group has no link (yet).
    latest_links: dict[str, tuple[int, datetime] | None] = field(default_factory=dict)

    #: Incidents read or opened during this call, held here: the session keeps clean
    #: objects only weakly, and naming an outcome "INC-n" must not read the row again.
    held: dict[int, Incident] = field(default_factory=dict)

    def incident(self, incident_id: int | None) -> Incident | None:
        if incident_id is None:
            return None
        found = self.held.get(incident_id)
        if found is None:
            found = incidents.get_by_id(
                session=self.session, incident_id=incident_id, with_related=False
            )
            if found is not None:
                self.held[incident_id] = found
        return found


def group_hash(key: str) -> str:
    """The index key of a group (group keys can be long; the hash is fixed-size)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def ref(incident: Incident) -> str:
    return format_incident_id(incident.number)


def alert_title(alert: Alert) -> str:
    return alert.title.strip() or f"Alert {alert.dedup_key}"


def alert_data(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "dedup_key": alert.dedup_key,
        "service": alert.service,
        "severity": alert.severity,
        "route": alert.route_path,
    }


# ---------------------------------------------------------------- groups


def link(ctx: Context, incident: Incident, alert: Alert, reason: str, ghash: str) -> None:
    pair = (incident.id, alert.id)
    existing = None
    if alert.id not in ctx.fresh or pair in ctx.linked:
        existing = ctx.session.scalar(
            select(AlertLink).where(
                AlertLink.incident_id == incident.id, AlertLink.alert_id == alert.id
            )
        )
    ctx.linked.add(pair)
    ctx.latest_links[ghash] = (incident.id, ctx.now)
    if existing is None:
        ctx.session.add(
            AlertLink(
                incident_id=incident.id,
                alert_id=alert.id,
                reason=reason,
                group_hash=ghash,
                linked_at=ctx.now,
            )
        )
    else:
        existing.reason = reason
        existing.group_hash = ghash
        existing.linked_at = ctx.now


def _group_firing(ctx: Context, incident: Incident, ghash: str, exclude: int | None) -> bool:
    query = (
        select(Alert.id)
        .join(AlertLink, AlertLink.alert_id == Alert.id)
        .where(
            AlertLink.incident_id == incident.id,
            AlertLink.group_hash == ghash,
            Alert.status == "firing",
        )
        .limit(1)
    )
    if exclude is not None:
        query = query.where(Alert.id != exclude)
    return ctx.session.scalar(query) is not None


def _latest_link(ctx: Context, ghash: str) -> tuple[int, datetime] | None:
    """``(incident id, linked at)`` of the group's newest link."""
    if ghash in ctx.latest_links:
        return ctx.latest_links[ghash]
    row = ctx.session.execute(
        select(AlertLink.incident_id, AlertLink.linked_at)
        .where(AlertLink.group_hash == ghash)
        .order_by(AlertLink.linked_at.desc())
        .limit(1)
    ).first()
    found = None if row is None else (row.incident_id, row.linked_at)
    ctx.latest_links[ghash] = found
    return found


def preload_latest_links(ctx: Context, hashes: set[str]) -> None:
    """Read the newest link of many groups at once (a batch's new alerts), so that
    deciding each of them asks the database nothing about its group."""
    wanted = [h for h in hashes if h not in ctx.latest_links]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        newest = (
            select(AlertLink.group_hash, func.max(AlertLink.linked_at).label("at"))
            .where(AlertLink.group_hash.in_(chunk))
            .group_by(AlertLink.group_hash)
            .subquery()
        )
        rows = ctx.session.execute(
            select(AlertLink.group_hash, AlertLink.incident_id, AlertLink.linked_at)
            .join(
                newest,
                (AlertLink.group_hash == newest.c.group_hash)
                & (AlertLink.linked_at == newest.c.at),
            )
            .order_by(AlertLink.id)
        )
        found = {row.group_hash: (row.incident_id, row.linked_at) for row in rows}
        for ghash in chunk:
            ctx.latest_links[ghash] = found.get(ghash)


def live_group_incident(
    ctx: Context, ghash: str, window: timedelta, *, exclude: int | None
) -> tuple[Incident | None, Incident | None]:
    """``(live, last)``: the active incident the group still feeds (or None), and the
    group's newest incident whatever its state (for reopening and "follows").
    ``exclude`` is the alert being placed (its own firing does not keep the group alive)."""
    latest = _latest_link(ctx, ghash)
    if latest is None:
        return None, None
    incident_id, linked_at = latest
    incident = ctx.incident(incident_id)
    if incident is None:
        return None, None
    alive = linked_at >= ctx.now - window or _group_firing(ctx, incident, ghash, exclude)
    if incident.status in _ACTIVE and alive:
        return incident, incident
    return None, incident


def _reopenable(ctx: Context, incident: Incident) -> bool:
    window = ctx.policy.alerting.reopen_window
    return (
        incident.status == IncidentStatus.resolved
        and incident.resolved_at is not None
        and incident.resolved_at >= ctx.now - window
    )


# ---------------------------------------------------------------- placing an alert


class StormStage(Protocol):
    """Asked before an alert opens an incident of its own (:mod:`tocsin.alerts.storms`)."""

    def take(self, alert: Alert, decision: RouteDecision) -> bool: ...


def place(
    ctx: Context,
    alert: Alert,
    decision: RouteDecision,
    ghash: str,
    *,
    storms: StormStage | None = None,
) -> None:
    """Attach, reopen or declare for a firing alert that may open an incident; a
    storm stage may take an alert that would open one."""
    follows: Incident | None = None
    own = ctx.incident(alert.incident_id)
    if own is not None:
        if own.status in _ACTIVE:
            attach(ctx, own, alert, reason="attached", ghash=ghash)
            return
        if _reopenable(ctx, own):
            reopen(ctx, own, alert, ghash)
            return
        follows = own
    window = ctx.policy.alerting.correlation_window
    live, last = live_group_incident(ctx, ghash, window, exclude=alert.id)
    if live is not None:
        attach(ctx, live, alert, reason="attached", ghash=ghash)
        return
    if last is not None and (own is None or last.id != own.id):
        if _reopenable(ctx, last):
            reopen(ctx, last, alert, ghash)
            return
        if follows is None and last.status not in _ACTIVE:
            follows = last
    if storms is not None and storms.take(alert, decision):
        return
    incident = declare(
        ctx,
        alert,
        title=alert_title(alert),
        severity=alert.severity,
        service=decision.service,
        escalation_policy=decision.escalation_policy,
        detected_at=alert.fired_at,
    )
    link(ctx, incident, alert, "opened", ghash)
    alert.incident_id = incident.id
    alert.outcome = AlertOutcome.new_incident.value
    ctx.timeline(
        incident,
        "alert_opened",
        f"Opened by alert {alert_title(alert)} (route {alert.route_path}, "
        f"{alert.severity} {decision.severity_reason.value}"
        + (f" from {decision.severity_value!r})" if decision.severity_value else ")"),
        **alert_data(alert),
        group_key=alert.group_key,
    )
    if follows is not None:
        record_follows(ctx, incident, follows)


def record_follows(ctx: Context, incident: Incident, previous: Incident) -> None:
    if previous.status == IncidentStatus.closed:
        why = "it is closed"
    elif previous.resolved_at is not None:
        seconds = max(1, int((ctx.now - previous.resolved_at).total_seconds()))
        ago = format_duration(timedelta(seconds=seconds))
        window = format_duration(ctx.policy.alerting.reopen_window)
        why = f"it resolved {ago} ago, outside the {window} reopen window"
    else:
        why = "its group went quiet"
    ctx.timeline(
        incident,
        "follows",
        f"Follows {ref(previous)} ({why}): opened as a new incident",
        previous=ref(previous),
    )
    ctx.timeline(previous, "followed_by", f"Followed by {ref(incident)}", next=ref(incident))


def attach(
    ctx: Context,
    incident: Incident,
    alert: Alert,
    *,
    reason: str,
    ghash: str,
    outcome: Outcome = AlertOutcome.attached,
    flapping: bool = False,
) -> None:
    """Join ``incident``: link, timeline, raise its severity to the alert's if worse,
    and send a monitoring incident back to investigating (the problem is back). A
    flapping alert does neither."""
    link(ctx, incident, alert, reason, ghash)
    alert.incident_id = incident.id
    alert.outcome = outcome.value
    label = "Flapping alert fired again" if flapping else "Alert attached"
    ctx.timeline(incident, "alert_attached", f"{label}: {alert_title(alert)}", **alert_data(alert))
    incidents.note_alert_attached(
        session=ctx.session, policy=ctx.policy, incident=incident, now=ctx.now
    )
    if flapping:
        return
    _raise_severity(ctx, incident, alert.severity)
    if incident.status == IncidentStatus.monitoring:
        incidents.transition(
            session=ctx.session,
            policy=ctx.policy,
            incident=incident,
            actor=SYSTEM_ACTOR,
            target=IncidentStatus.investigating,
            now=ctx.now,
        )


def _raise_severity(ctx: Context, incident: Incident, severity: str) -> None:
    wanted = ctx.policy.severity(severity)
    if wanted.rank < incident.severity_rank and incident.status != IncidentStatus.closed:
        set_severity(ctx, incident, wanted.name)


def set_severity(ctx: Context, incident: Incident, severity: str) -> None:
    incidents.edit(
        session=ctx.session,
        policy=ctx.policy,
        incident=incident,
        actor=SYSTEM_ACTOR,
        changes=IncidentUpdate(severity=severity),
        now=ctx.now,
    )


def reopen(
    ctx: Context, incident: Incident, alert: Alert, ghash: str, *, flapping: bool = False
) -> None:
    # Severity first, so that the new page already carries it. Never lowered: a
    # flapping alert is as severe as its route says.
    _raise_severity(ctx, incident, alert.severity)
    incidents.transition(
        session=ctx.session,
        policy=ctx.policy,
        incident=incident,
        actor=SYSTEM_ACTOR,
        target=IncidentStatus.triggered,
        now=ctx.now,
    )
    link(ctx, incident, alert, "reopened", ghash)
    alert.incident_id = incident.id
    alert.outcome = (AlertOutcome.flapping if flapping else IngestNote.reopened).value
    ctx.timeline(
        incident,
        "alert_reopened",
        f"Reopened by alert {alert_title(alert)}",
        **alert_data(alert),
    )


def declare(
    ctx: Context,
    alert: Alert,
    *,
    title: str,
    severity: str,
    service: str | None,
    escalation_policy: str | None,
    detected_at: datetime,
    services: Sequence[str] | None = None,
    description: str | None = None,
) -> Incident:
    names = list(services) if services is not None else [service] if service else []
    known = [name for name in names if ctx.policy.service(name) is not None]
    if escalation_policy is not None and ctx.policy.escalation_policy(escalation_policy) is None:
        escalation_policy = None
    started = min(alert.starts_at or alert.fired_at, ctx.now)
    incident = incidents.declare(
        session=ctx.session,
        policy=ctx.policy,
        actor=SYSTEM_ACTOR,
        data=IncidentCreate(
            title=title[:300],
            description=(alert.summary if description is None else description)[:_DESCRIPTION_MAX],
            severity=severity,
            services=known,
            started_at=started,
            **(ctx.drill.fields() if ctx.drill is not None else {}),
        ),
        now=ctx.now,
        escalation_policy=escalation_policy,
        detected_at=detected_at,
    )
    ctx.held[incident.id] = incident
    return incident


def attach_waiting(
    ctx: Context, incident: Incident, alert: Alert, since: datetime, *, same_group: bool
) -> None:
    """The noise gate opened: alerts that waited below it join too (those of the
    route, or with ``same_group`` only those of the alert's group)."""
    query = select(Alert).where(
        Alert.route_path == alert.route_path,
        Alert.fired_at >= since,
        Alert.outcome == AlertOutcome.below_threshold.value,
        Alert.status == "firing",
        Alert.incident_id.is_(None),
        Alert.id != alert.id,
        Alert.drill.is_(ctx.is_drill),
    )
    if same_group:
        query = query.where(Alert.group_key == alert.group_key)
    waiting = ctx.session.scalars(query).all()
    for other in waiting:
        link(ctx, incident, other, "gate", group_hash(other.group_key))
        other.incident_id = incident.id
        other.outcome = AlertOutcome.attached.value
    if waiting:
        ctx.timeline(
            incident,
            "alerts_attached",
            f"{len(waiting)} earlier alert(s) that waited below the noise gate attached",
            alert_ids=[a.id for a in waiting],
        )


# ---------------------------------------------------------------- resolution


def resolve_incidents(ctx: Context, alert: Alert) -> None:
    """``alert`` resolved: every active incident it feeds whose alerts have all resolved
    moves to ``alerting.resolve_action`` (monitoring only, for a flapping alert)."""
    ids = set(
        ctx.session.scalars(select(AlertLink.incident_id).where(AlertLink.alert_id == alert.id))
    )
    if alert.incident_id is not None:
        ids.add(alert.incident_id)
    action = IncidentStatus(ctx.policy.alerting.resolve_action)
    if alert.flapping:
        action = IncidentStatus.monitoring
    for incident_id in sorted(ids):
        incident = ctx.incident(incident_id)
        if incident is None or incident.status not in _ACTIVE or incident.status == action:
            continue
        firing = ctx.session.scalar(
            select(Alert.id)
            .join(AlertLink, AlertLink.alert_id == Alert.id)
            .where(AlertLink.incident_id == incident.id, Alert.status == "firing")
            .limit(1)
        )
        if firing is not None:
            continue
        ctx.timeline(
            incident,
            "alerts_resolved",
            f"All alerts resolved (last: {alert_title(alert)}): moving to {action}",
            **alert_data(alert),
        )
        incidents.transition(
            session=ctx.session,
            policy=ctx.policy,
            incident=incident,
            actor=SYSTEM_ACTOR,
            target=action,
            now=ctx.now,
        )


def acknowledge_for(ctx: Context, alert: Alert, actor: str) -> None:
    """A PagerDuty acknowledge: the alert's current firing is acknowledged, and each
    incident it feeds that still waits (triggered) is acknowledged once none of its
    firing alerts is left unacknowledged; until then its timeline says how many are."""
    alert.acknowledged_at = ctx.now
    ids = set(
        ctx.session.scalars(select(AlertLink.incident_id).where(AlertLink.alert_id == alert.id))
    )
    if alert.incident_id is not None:
        ids.add(alert.incident_id)
    for incident_id in sorted(ids):
        incident = ctx.incident(incident_id)
        if incident is None or incident.status != IncidentStatus.triggered:
            continue
        waiting = int(
            ctx.session.scalar(
                select(func.count())
                .select_from(Alert)
                .join(AlertLink, AlertLink.alert_id == Alert.id)
                .where(
                    AlertLink.incident_id == incident.id,
                    Alert.status == "firing",
                    or_(Alert.acknowledged_at.is_(None), Alert.acknowledged_at < Alert.fired_at),
                )
            )
            or 0
        )
        if waiting:
            ctx.timeline(
                incident,
                "alert_acknowledged",
                f"Alert acknowledged by {actor}: {alert_title(alert)} "
                f"({waiting} firing alert(s) still unacknowledged)",
                **alert_data(alert),
            )
            continue
        incidents.acknowledge(
            session=ctx.session, policy=ctx.policy, incident=incident, actor=actor, now=ctx.now
        )
