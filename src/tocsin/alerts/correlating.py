"""Correlation's effect on incidents: a cascade's one SEV1 incident, and a flapping
alert kept to one incident at the lowest severity. (Whether there is a cascade or a
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
from tocsin.alerts.rules import AlertOutcome
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, IncidentUpdate
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus
from tocsin.incidents.timeline import SYSTEM_ACTOR
from tocsin.policy import format_duration

__all__ = ["join_cascade", "mark_flapping", "place_flapping"]

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


def _lowest(ctx: Context) -> str:
    return ctx.policy.severities[-1].name


def place_flapping(ctx: Context, alert: Alert, ghash: str) -> None:
    """A flapping alert fired: keep it to its one incident, at the lowest severity."""
    alert.severity = _lowest(ctx)
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
        return
    if own is not None and own.status == IncidentStatus.resolved:
        reopen(ctx, own, alert, ghash, flapping=True)
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
    ctx.timeline(incident, "alert_opened", f"Opened by flapping alert {alert_title(alert)}")
    if own is not None:
        record_follows(ctx, incident, own)


def mark_flapping(ctx: Context, alert: Alert) -> None:
    """The alert was just found flapping: say so on its incident and lower that
    incident to the lowest severity, unless other alerts there still fire for real."""
    alert.flapping = True
    alert.severity = _lowest(ctx)
    incident = ctx.incident(alert.incident_id)
    if incident is None or incident.status == IncidentStatus.closed:
        return
    settings = ctx.policy.alerting
    ctx.timeline(
        incident,
        "alert_flapping",
        f"Alert {alert_title(alert)} is flapping ({settings.flapping.transitions} changes "
        f"within {format_duration(settings.flapping_window)}): kept to this incident",
        **alert_data(alert),
    )
    others = ctx.session.scalar(
        select(Alert.id)
        .join(AlertLink, AlertLink.alert_id == Alert.id)
        .where(
            AlertLink.incident_id == incident.id,
            Alert.id != alert.id,
            Alert.status == "firing",
            Alert.flapping.is_(False),
        )
        .limit(1)
    )
    if others is None and incident.severity != alert.severity:
        set_severity(ctx, incident, alert.severity)
