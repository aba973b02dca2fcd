"""Dead man's switches: a ping is expected every interval; a missed one opens an
incident on the service, and the next ping resolves it.

Two kinds of heartbeat share this code: a ``heartbeat`` integration (each
``ping`` call is a ping) and a route with ``heartbeat: D`` (each alert it routes, such
as Prometheus' always-firing Watchdog, is a ping — repeats included). Each ping moves
one durable timer: the previous ``heartbeat_missed`` job is cancelled and a new one is
set at ping + interval, keyed by the heartbeat and the ping's instant, so a timer set
for an older ping can never fire for a newer one. The first ping arms the switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Heartbeat, Integration
from tocsin.alerts.rules.routing import resolve_severity
from tocsin.db.jobs import cancel_jobs, schedule
from tocsin.errors import InvalidInput
from tocsin.incidents import service as incidents
from tocsin.incidents.models import IncidentCreate
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, UnknownSeverity, format_duration

__all__ = [
    "HEARTBEAT_MISSED",
    "HandlerContext",
    "handle_heartbeat_missed",
    "heartbeat_key_prefixes",
    "ping",
    "route_ping",
]

HEARTBEAT_MISSED = "heartbeat_missed"
_ACTIVE = {s.value for s in ACTIVE_STATUSES}


class HandlerContext(Protocol):
    """What the engine hands a job handler (its ``EngineContext`` has both)."""

    @property
    def policy(self) -> Policy: ...

    @property
    def now(self) -> datetime: ...


def _prefix(heartbeat_id: int) -> str:
    return f"heartbeat:{heartbeat_id}/"


def heartbeat_key_prefixes(*, session: Session, integration: Integration) -> list[str]:
    """The job-key prefixes of every heartbeat of ``integration`` (to cancel them)."""
    ids = session.scalars(select(Heartbeat.id).where(Heartbeat.integration_id == integration.id))
    return [_prefix(i) for i in ids]


def ping(*, session: Session, policy: Policy, integration: Integration, now: datetime) -> Heartbeat:
    """A ping to a ``heartbeat`` integration (``POST /api/v1/heartbeats/{key}``)."""
    if integration.kind != "heartbeat" or not integration.heartbeat_seconds:
        raise InvalidInput("key", f"integration {integration.name!r} is not a heartbeat")
    return _ping(
        session,
        policy,
        integration,
        name="",
        interval=timedelta(seconds=integration.heartbeat_seconds),
        service=integration.service,
        severity=resolve_severity(policy, value=None).severity,
        escalation_policy=None,
        now=now,
    )


def route_ping(
    *,
    session: Session,
    policy: Policy,
    integration: Integration,
    route_path: str,
    interval: timedelta,
    service: str | None,
    severity: str,
    escalation_policy: str | None,
    now: datetime,
) -> Heartbeat:
    """A ping from an alert routed by a ``heartbeat`` route (called by the pipeline)."""
    return _ping(
        session,
        policy,
        integration,
        name=route_path,
        interval=interval,
        service=service,
        severity=severity,
        escalation_policy=escalation_policy,
        now=now,
    )


def _ping(
    session: Session,
    policy: Policy,
    integration: Integration,
    *,
    name: str,
    interval: timedelta,
    service: str | None,
    severity: str,
    escalation_policy: str | None,
    now: datetime,
) -> Heartbeat:
    integration.last_seen_at = now
    heartbeat = session.scalar(
        select(Heartbeat).where(Heartbeat.integration_id == integration.id, Heartbeat.name == name)
    )
    seconds = max(1, int(interval.total_seconds()))
    if heartbeat is None:
        heartbeat = Heartbeat(
            integration_id=integration.id,
            name=name,
            last_ping_at=now,
            due_at=now,
            interval_seconds=seconds,
            severity=severity,
        )
        session.add(heartbeat)
        session.flush()
    elif heartbeat.last_ping_at >= now and heartbeat.interval_seconds == seconds:
        return heartbeat  # a second ping at the same instant: the timer is already set
    heartbeat.service = service
    heartbeat.severity = severity
    heartbeat.escalation_policy = escalation_policy
    heartbeat.interval_seconds = seconds
    heartbeat.last_ping_at = now
    heartbeat.due_at = now + timedelta(seconds=seconds)
    cancel_jobs(
        session=session, key_prefix=_prefix(heartbeat.id), now=now, kinds=(HEARTBEAT_MISSED,)
    )
    schedule(
        session=session,
        kind=HEARTBEAT_MISSED,
        due_at=heartbeat.due_at,
        payload={"heartbeat_id": heartbeat.id, "ping_at": now.isoformat()},
        key=f"{_prefix(heartbeat.id)}{now.isoformat()}",
        now=now,
    )
    if heartbeat.incident_id is not None:
        _recovered(session, policy, integration, heartbeat, heartbeat.incident_id, now)
    return heartbeat


def _title(integration: Integration, heartbeat: Heartbeat) -> str:
    route = heartbeat.name.rsplit("/", 1)[-1]
    return f"Heartbeat missed: {integration.name}" + (f" ({route})" if route else "")


def _recovered(
    session: Session,
    policy: Policy,
    integration: Integration,
    heartbeat: Heartbeat,
    incident_id: int,
    now: datetime,
) -> None:
    incident = incidents.get_by_id(session=session, incident_id=incident_id)
    heartbeat.incident_id = None
    heartbeat.missed_at = None
    if incident is None or incident.status not in _ACTIVE:
        return
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="heartbeat_received",
        summary=f"{_title(integration, heartbeat).replace('missed', 'received')}: resolving",
        data={"heartbeat_id": heartbeat.id, "integration": integration.name},
    )
    incidents.transition(
        session=session,
        policy=policy,
        incident=incident,
        actor=SYSTEM_ACTOR,
        target=IncidentStatus.resolved,
        now=now,
    )


def handle_heartbeat_missed(
    session: Session, context: HandlerContext, payload: Mapping[str, Any]
) -> str:
    """The ``heartbeat_missed`` job: open "Heartbeat missed: <name>" unless a later
    ping came (then the job is stale) or such an incident is already open."""
    heartbeat = session.get(Heartbeat, int(payload["heartbeat_id"]))
    if heartbeat is None:
        return "gone"
    if heartbeat.last_ping_at != datetime.fromisoformat(str(payload["ping_at"])):
        return "stale"
    integration = session.get(Integration, heartbeat.integration_id)
    if integration is None or integration.disabled_at is not None:
        return "disabled"
    if heartbeat.incident_id is not None:
        open_one = incidents.get_by_id(session=session, incident_id=heartbeat.incident_id)
        if open_one is not None and open_one.status in _ACTIVE:
            return f"already open as {format_incident_id(open_one.number)}"
    policy, now = context.policy, context.now
    try:
        severity = policy.severity(heartbeat.severity).name
    except UnknownSeverity:  # the policy changed since the last ping
        severity = resolve_severity(policy, value=None).severity
    service = heartbeat.service if heartbeat.service and policy.service(heartbeat.service) else None
    escalation = heartbeat.escalation_policy
    if escalation is not None and policy.escalation_policy(escalation) is None:
        escalation = None
    interval = format_duration(timedelta(seconds=heartbeat.interval_seconds))
    incident = incidents.declare(
        session=session,
        policy=policy,
        actor=SYSTEM_ACTOR,
        data=IncidentCreate(
            title=_title(integration, heartbeat)[:300],
            description=f"No ping from {integration.name} since "
            f"{heartbeat.last_ping_at.isoformat()} (expected every {interval}).",
            severity=severity,
            services=[service] if service else [],
            started_at=min(heartbeat.due_at, now),
        ),
        now=now,
        escalation_policy=escalation,
        detected_at=heartbeat.due_at,
    )
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="heartbeat_missed",
        summary=f"No ping from {integration.name} for {interval}; the next ping resolves this",
        data={
            "heartbeat_id": heartbeat.id,
            "integration": integration.name,
            "route": heartbeat.name or None,
            "last_ping_at": heartbeat.last_ping_at.isoformat(),
        },
    )
    heartbeat.incident_id = incident.id
    heartbeat.missed_at = now
    return f"opened {format_incident_id(incident.number)}"
