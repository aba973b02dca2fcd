"""Correlation's effect on incidents: a cascade's one SEV1 incident, and a flapping
alert kept to one incident whose re-fires page nobody, at no lower a severity than its
alerts or a person say. (Whether there is a cascade or a
flapping alert is decided by the pure rules; :mod:`tocsin.alerts.triage` and the
pipeline ask them.)
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from tocsin.alerts.linking import (
    Context,
    alert_data,
    alert_title,
    attach,
    declare,
    link,
    live_group_incident,
    record_follows,
    ref,
    reopen,
    set_severity,
)
from tocsin.alerts.models import Alert, AlertLink
from tocsin.alerts.rules import AlertOutcome, flapping_severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, IncidentUpdate, TimelineEvent
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus
from tocsin.incidents.timeline import SYSTEM_ACTOR
from tocsin.policy import UnknownSeverity, format_duration

__all__ = ["join_cascade", "keep_severity", "mark_flapping", "place_flapping"]

_ACTIVE = {s.value for s in ACTIVE_STATUSES}


def join_cascade(
    ctx: Context,
    alert: Alert,
    *,
    ghash: str,
    services: Sequence[str],
    origins: Sequence[str],
    members: Sequence[int],
) -> None:
    """Put ``alert`` on its cascade's one SEV1 incident, opening it if needed.

    Opening it also links the cascade's earlier alerts (``members``): those without an
    incident move onto it; those that already opened one stay there, and that incident's
    timeline points at the cascade. Nobody is paged for the absorbed alerts.
    """
    incident = ctx.cascades.get(ghash)
    if incident is None:
        window = ctx.policy.alerting.cascade_window
        incident, _ = live_group_incident(ctx, ghash, window, exclude=alert.id)
    if incident is not None:
        ctx.cascades[ghash] = incident
        attach(ctx, incident, alert, reason="cascade", ghash=ghash, outcome=AlertOutcome.cascade)
        _add_services(ctx, incident, services)
        return
    worst = ctx.policy.severities[0].name
    escalation = None
    for origin in origins:
        origin_service = ctx.policy.service(origin)
        if origin_service is not None and origin_service.escalation_policy:
            escalation = origin_service.escalation_policy
            break
    incident = declare(
        ctx,
        alert,
        title="Cascade failure: " + ", ".join(services),
        severity=worst,
        service=None,
        services=services,
        escalation_policy=escalation,
        detected_at=alert.fired_at,
        description="Many related alerts at once on: " + ", ".join(services),
    )
    ctx.cascades[ghash] = incident
    span = format_duration(ctx.policy.alerting.cascade_window)
    ctx.timeline(
        incident,
        "cascade_detected",
        f"Cascade: {len(members) + 1} related alerts on {len(services)} services within "
        f"{span}" + (f"; likely origin: {', '.join(origins)}" if origins else ""),
        services=list(services),
        origins=list(origins),
    )
    link(ctx, incident, alert, "cascade", ghash)
    alert.incident_id = incident.id
    alert.outcome = AlertOutcome.cascade.value
    for member_id in members:
        member = ctx.session.get(Alert, member_id)
        if member is None or member.id == alert.id:
            continue
        link(ctx, incident, member, "cascade", ghash)
        previous = ctx.incident(member.incident_id)
        if previous is None:
            member.incident_id = incident.id
            member.outcome = AlertOutcome.cascade.value
        elif previous.id != incident.id:
            ctx.timeline(
                previous,
                "cascade_linked",
                f"Part of cascade failure {ref(incident)} (alert {alert_title(member)})",
                cascade=ref(incident),
                alert_id=member.id,
            )


def _add_services(ctx: Context, incident: Incident, services: Sequence[str]) -> None:
    current = {s.service for s in incident.services}
    known = {s for s in services if ctx.policy.service(s) is not None}
    if not known <= current and incident.status != IncidentStatus.closed:
        incidents.edit(
            session=ctx.session,
            policy=ctx.policy,
            incident=incident,
            actor=SYSTEM_ACTOR,
            changes=IncidentUpdate(services=sorted(current | known)),
            now=ctx.now,
        )


# ---------------------------------------------------------------- flapping

_PERSON_SEVERITY = {"declared": "severity", "severity_changed": "to"}


def _why_quiet(ctx: Context) -> str:
    settings = ctx.policy.alerting
    return (
        f"{settings.flapping.transitions} changes within "
        f"{format_duration(settings.flapping_window)}"
    )


def place_flapping(ctx: Context, alert: Alert, ghash: str) -> None:
    """A flapping alert fired: keep it to its one incident without paging again.

    It joins its own incident while that is active, or reopens it if resolved (a reopen
    pages, as any reopen; its resolves then leave the incident in monitoring). Otherwise
    it opens a new incident at its routed severity, paged once.
    """
    own = ctx.incident(alert.incident_id)
    if own is not None and own.status in _ACTIVE:
        attach(
            ctx,
            own,
            alert,
            reason="attached",
            ghash=ghash,
            outcome=AlertOutcome.flapping,
            flapping=True,
        )
        keep_severity(ctx, own, alert)
        return
    if own is not None and own.status == IncidentStatus.resolved:
        reopen(ctx, own, alert, ghash, flapping=True)
        keep_severity(ctx, own, alert)
        return
    incident = declare(
        ctx,
        alert,
        title=f"Flapping: {alert_title(alert)}",
        severity=alert.severity,
        service=alert.service,
        escalation_policy=None,
        detected_at=alert.fired_at,
    )
    link(ctx, incident, alert, "opened", ghash)
    alert.incident_id = incident.id
    alert.outcome = AlertOutcome.flapping.value
    ctx.timeline(
        incident,
        "alert_opened",
        f"Opened by flapping alert {alert_title(alert)} ({_why_quiet(ctx)}): "
        "its re-fires won't page again while it flaps",
        **alert_data(alert),
    )
    if own is not None:
        record_follows(ctx, incident, own)


def mark_flapping(ctx: Context, alert: Alert) -> None:
    """The alert was just found flapping: say on its incident that its re-fires won't
    page again while it flaps. The incident keeps its severity (see
    :func:`tocsin.alerts.rules.flapping_severity`)."""
    alert.flapping = True
    incident = ctx.incident(alert.incident_id)
    if incident is None or incident.status == IncidentStatus.closed:
        return
    ctx.timeline(
        incident,
        "alert_flapping",
        f"Alert {alert_title(alert)} is flapping ({_why_quiet(ctx)}): "
        "its re-fires won't page again while it flaps",
        **alert_data(alert),
    )
    keep_severity(ctx, incident, alert)


def keep_severity(ctx: Context, incident: Incident, alert: Alert) -> None:
    """Raise ``incident`` to what :func:`flapping_severity` says it must at least be:
    the worst of its flapping alert's routed severity, its other firing alerts and the
    last severity a person set."""
    if incident.status == IncidentStatus.closed:
        return
    own = _rank(ctx, alert.severity)
    if own is None:
        return
    firing = ctx.session.scalars(
        select(Alert.severity)
        .distinct()
        .join(AlertLink, AlertLink.alert_id == Alert.id)
        .where(
            AlertLink.incident_id == incident.id,
            Alert.id != alert.id,
            Alert.status == "firing",
        )
    )
    ranks = [rank for rank in (_rank(ctx, name) for name in firing) if rank is not None]
    wanted = flapping_severity(
        incident.severity_rank, alert=own, firing=ranks, person=_person_rank(ctx, incident)
    )
    if wanted < incident.severity_rank:
        set_severity(ctx, incident, ctx.policy.severities[wanted - 1].name)


def _rank(ctx: Context, name: str | None) -> int | None:
    if not name:
        return None
    try:
        return ctx.policy.severity(name).rank
    except UnknownSeverity:  # a severity a reloaded policy no longer has
        return None


def _person_rank(ctx: Context, incident: Incident) -> int | None:
    """The rank of the last severity a person gave ``incident`` (declaring it or
    changing its severity), if one did: what Tocsin does itself is ``SYSTEM_ACTOR``'s."""
    event = ctx.session.scalars(
        select(TimelineEvent)
        .where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind.in_(list(_PERSON_SEVERITY)),
            TimelineEvent.actor != SYSTEM_ACTOR,
        )
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    value = event.data.get(_PERSON_SEVERITY[event.kind])
    return _rank(ctx, value) if isinstance(value, str) else None
