"""Incident use cases: validate, change state, append to the timeline — one transaction.

Every function takes the caller's session and never commits; the request scope or
`session_scope()` does. Later features (paging, status page) hook in here so that a
state change and the work it causes commit together. The read side lives in
`tocsin.incidents.queries`; its names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db.counters import next_number
from tocsin.errors import Conflict, InvalidInput
from tocsin.incidents import corrections, hooks, paging
from tocsin.incidents.models import (
    Incident,
    IncidentCreate,
    IncidentRole,
    IncidentService,
    IncidentUpdate,
    StatusUpdate,
    StatusUpdateCreate,
    TimelineEvent,
)
from tocsin.incidents.queries import (
    get,
    get_by_id,
    hold_incidents,
    incidents_cursor,
    list_incidents,
    list_updates,
    numbers_by_id,
    timeline,
    timeline_cursor,
    timeline_to_read,
    to_read,
    update_to_read,
)
from tocsin.incidents.rules import (
    IllegalTransition,
    IncidentStatus,
    Milestones,
    allowed_transitions,
    check_transition,
    format_incident_id,
    incident_lane,
    record_milestones,
)
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, Severity, UnknownSeverity, compute_tags


def _record(
    session: Session,
    incident: Incident,
    now: datetime,
    actor: str,
    kind: str,
    summary: str,
    data: dict[str, Any],
) -> None:
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind=kind,
        summary=summary,
        data=data,
    )


__all__ = [
    "acknowledge",
    "declare",
    "edit",
    "get",
    "get_by_id",
    "hold_incidents",
    "incidents_cursor",
    "list_incidents",
    "list_updates",
    "note_alert_attached",
    "numbers_by_id",
    "post_update",
    "timeline",
    "timeline_cursor",
    "timeline_to_read",
    "to_read",
    "transition",
    "update_to_read",
]

#: How far into the future a client clock may be before a start time is refused.
CLOCK_SKEW = timedelta(minutes=5)


def declare(
    *,
    session: Session,
    policy: Policy,
    actor: str,
    data: IncidentCreate,
    now: datetime,
    escalation_policy: str | None = None,
    detected_at: datetime | None = None,
) -> Incident:
    """Open an incident and page for it.

    `escalation_policy` (an alert route's choice) replaces the one the services name;
    `detected_at` is when monitoring noticed, if that was before now.
    """
    severity = _severity(policy, data.severity)
    if escalation_policy is not None and policy.escalation_policy(escalation_policy) is None:
        raise InvalidInput("escalation_policy", f"unknown escalation policy {escalation_policy!r}")
    services = _services(policy, data.services)
    responders = _drill_responders(policy, data.drill_responders)
    started_at = data.started_at or now
    if started_at > now + CLOCK_SKEW:
        raise InvalidInput("started_at", "is in the future")
    incident = Incident(
        number=next_number(session, "incident"),
        title=data.title,
        description=data.description,
        status=IncidentStatus.triggered.value,
        severity=severity.name,
        severity_rank=severity.rank,
        tags=compute_tags(
            policy, title=data.title, description=data.description, services=services
        ),
        started_at=started_at,
        detected_at=min(detected_at or now, now),
        created_at=now,
        updated_at=now,
        created_by=actor,
        services=[IncidentService(service=s) for s in services],
        roles=[],  # known empty: assigning the commander needs no load
        drill=data.drill,
        drill_pages_oncall=data.drill_pages_oncall,
        drill_responders=responders or None,
        lane=incident_lane(actor == SYSTEM_ACTOR, services, drill=data.drill),
    )
    session.add(incident)
    session.flush()
    facts: dict[str, Any] = {
        "severity": severity.name,
        "services": services,
        "started_at": started_at.isoformat(),
    }
    summary = f"Declared {severity.name}: {data.title}"
    if data.drill:
        facts |= {"drill": True, "responders": responders, "pages_oncall": data.drill_pages_oncall}
        summary = f"Declared a drill, {severity.name}: {data.title}"
    _record(session, incident, now, actor, "declared", summary, facts)
    paging.on_declared(
        session=session,
        policy=policy,
        incident=incident,
        now=now,
        escalation_policy=escalation_policy,
    )
    hooks.REGISTRY.run(
        hooks.IncidentEvent.declared,
        session=session,
        policy=policy,
        incident=incident,
        actor=actor,
        now=now,
    )
    return incident


def note_alert_attached(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> None:
    """An alert joined ``incident``: tell the hooks (cheap ones only: this runs once per
    attached alert)."""
    hooks.REGISTRY.run(
        hooks.IncidentEvent.alert_attached,
        session=session,
        policy=policy,
        incident=incident,
        actor="tocsin",
        now=now,
    )


def edit(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    changes: IncidentUpdate,
    now: datetime,
) -> Incident:
    """Apply a PATCH. Every field is validated before anything is written."""
    severity = _severity(policy, changes.severity) if changes.severity is not None else None
    services = _services(policy, changes.services) if changes.services is not None else None
    roles = _roles(policy, changes.roles) if changes.roles is not None else None
    if incident.status == IncidentStatus.closed and (
        severity is not None or services is not None or roles is not None
    ):
        raise Conflict(f"{format_incident_id(incident.number)} is closed and can no longer change")

    text_changed: dict[str, Any] = {}
    if changes.title is not None and changes.title != incident.title:
        text_changed["title"] = {"from": incident.title, "to": changes.title}
        incident.title = changes.title
    if changes.description is not None and changes.description != incident.description:
        text_changed["description"] = {"to": changes.description}
        incident.description = changes.description
    if text_changed:
        _record(
            session,
            incident,
            now,
            actor,
            "edited",
            "Edited " + " and ".join(text_changed),
            text_changed,
        )
    if severity is not None and severity.name != incident.severity:
        _change_severity(session, incident, severity, actor, now)
        paging.on_severity_changed(session=session, policy=policy, incident=incident, now=now)
        hooks.REGISTRY.run(
            hooks.IncidentEvent.severity_changed,
            session=session,
            policy=policy,
            incident=incident,
            actor=actor,
            now=now,
        )
    if services is not None and services != sorted(s.service for s in incident.services):
        _change_services(session, incident, services, actor, now)
    if roles is not None:
        changed = [_assign_role(session, incident, r, p, actor, now) for r, p in roles.items()]
        if any(changed):
            hooks.REGISTRY.run(
                hooks.IncidentEvent.role_assigned,
                session=session,
                policy=policy,
                incident=incident,
                actor=actor,
                now=now,
            )
    if changes.reason is not None:
        corrections.correct_times(
            session=session,
            incident=incident,
            changes=changes.corrections(),
            reason=changes.reason,
            actor=actor,
            now=now,
        )
    if text_changed or services is not None:
        incident.tags = compute_tags(
            policy,
            title=incident.title,
            description=incident.description,
            services=[s.service for s in incident.services],
        )
    incident.updated_at = now
    return incident


def transition(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    target: IncidentStatus,
    now: datetime,
    message: str | None = None,
    public: bool = False,
) -> Incident:
    current = IncidentStatus(incident.status)
    try:
        check_transition(current, target)
    except IllegalTransition as exc:
        raise Conflict(f"{format_incident_id(incident.number)}: {exc}") from exc
    _apply_transition(session, policy, incident, current, target, actor, now)
    if message:
        update = _add_update(
            session, incident, message=message, public=public, actor=actor, now=now
        )
        hooks.REGISTRY.run(
            hooks.IncidentEvent.update_posted,
            session=session,
            policy=policy,
            incident=incident,
            update=update,
            actor=actor,
            now=now,
        )
    return incident


def acknowledge(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    now: datetime,
    on_behalf_of: Sequence[str] = (),
) -> Incident:
    """Acknowledge, optionally for several people at once (a pair taking the page)."""
    if incident.status != IncidentStatus.triggered:
        who = _acknowledger(session, incident)
        by = f" (acknowledged by {who})" if who else ""
        allowed = ", ".join(allowed_transitions(IncidentStatus(incident.status))) or "none"
        raise Conflict(
            f"{format_incident_id(incident.number)} is already {incident.status}{by}; "
            f"allowed from {incident.status}: {allowed}"
        )
    unknown = [p for p in on_behalf_of if policy.person(p) is None]
    if unknown:
        raise InvalidInput("on_behalf_of", f"unknown person {unknown[0]!r}")
    people = list(dict.fromkeys([actor, *on_behalf_of]))
    _apply_transition(
        session,
        policy,
        incident,
        IncidentStatus.triggered,
        IncidentStatus.acknowledged,
        " and ".join(people) if len(people) > 1 else actor,
        now,
    )
    return incident


def post_update(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    data: StatusUpdateCreate,
    now: datetime,
) -> StatusUpdate:
    """A status update; with a status that differs from the current one it also moves there."""
    if data.status is not None:
        try:
            target = IncidentStatus(data.status.lower())
        except ValueError:
            valid = ", ".join(s.value for s in IncidentStatus)
            message = f"unknown status {data.status!r}; valid: {valid}"
            raise InvalidInput("status", message) from None
        if target.value != incident.status:
            current = IncidentStatus(incident.status)
            try:
                check_transition(current, target)
            except IllegalTransition as exc:
                raise Conflict(f"{format_incident_id(incident.number)}: {exc}") from exc
            _apply_transition(session, policy, incident, current, target, actor, now)
    elif incident.status == IncidentStatus.closed:
        raise Conflict(f"{format_incident_id(incident.number)} is closed")
    update = _add_update(
        session, incident, message=data.message, public=data.public, actor=actor, now=now
    )
    paging.on_status_update(session=session, policy=policy, incident=incident, now=now)
    hooks.REGISTRY.run(
        hooks.IncidentEvent.update_posted,
        session=session,
        policy=policy,
        incident=incident,
        update=update,
        actor=actor,
        now=now,
    )
    return update


# ---------------------------------------------------------------- internals

_TRANSITION_EVENTS = {
    IncidentStatus.acknowledged: "acknowledged",
    IncidentStatus.resolved: "resolved",
    IncidentStatus.closed: "closed",
}


def _apply_transition(
    session: Session,
    policy: Policy,
    incident: Incident,
    current: IncidentStatus,
    target: IncidentStatus,
    actor: str,
    now: datetime,
) -> None:
    if target is IncidentStatus.resolved:
        hooks.REGISTRY.check_resolve(
            session=session, policy=policy, incident=incident, actor=actor, now=now
        )
    before = Milestones(
        incident.acknowledged_at, incident.mitigated_at, incident.resolved_at, incident.closed_at
    )
    after = record_milestones(before, current, target, now, by_person=actor != SYSTEM_ACTOR)
    incident.acknowledged_at = after.acknowledged_at
    incident.mitigated_at = after.mitigated_at
    incident.resolved_at = after.resolved_at
    incident.closed_at = after.closed_at
    incident.status = target.value
    incident.updated_at = now
    reopened = current is IncidentStatus.resolved and target is IncidentStatus.triggered
    kind = "reopened" if reopened else _TRANSITION_EVENTS.get(target, "status_changed")
    summary = "Reopened" if reopened else f"Status {current} → {target}"
    if kind == "acknowledged":
        summary = f"Acknowledged by {actor}"
    _record(
        session, incident, now, actor, kind, summary, {"from": current.value, "to": target.value}
    )
    if target is IncidentStatus.resolved:
        paging.on_resolved(session=session, incident=incident, now=now)
        hooks.REGISTRY.run(
            hooks.IncidentEvent.resolved,
            session=session,
            policy=policy,
            incident=incident,
            actor=actor,
            now=now,
        )
    elif reopened:
        paging.on_reopened(session=session, policy=policy, incident=incident, now=now)
    elif current is IncidentStatus.triggered:
        paging.on_acknowledged(session=session, incident=incident, now=now)
        hooks.REGISTRY.run(
            hooks.IncidentEvent.acknowledged,
            session=session,
            policy=policy,
            incident=incident,
            actor=actor,
            now=now,
        )
    if before.acknowledged_at is None and after.acknowledged_at is not None:
        hooks.REGISTRY.run(
            hooks.IncidentEvent.first_acknowledged,
            session=session,
            policy=policy,
            incident=incident,
            actor=actor,
            now=now,
        )


def _add_update(
    session: Session, incident: Incident, *, message: str, public: bool, actor: str, now: datetime
) -> StatusUpdate:
    update = StatusUpdate(
        incident_id=incident.id,
        status=incident.status,
        message=message,
        public=public,
        actor=actor,
        created_at=now,
    )
    session.add(update)
    incident.updated_at = now
    visibility = "public" if public else "internal"
    _record(
        session,
        incident,
        now,
        actor,
        "update_posted",
        f"{visibility.capitalize()} update ({incident.status}): {message}",
        {"status": incident.status, "public": public, "message": message},
    )
    session.flush()
    return update


def _change_severity(
    session: Session, incident: Incident, severity: Severity, actor: str, now: datetime
) -> None:
    direction = "raised" if severity.rank < incident.severity_rank else "lowered"
    _record(
        session,
        incident,
        now,
        actor,
        "severity_changed",
        f"Severity {direction} from {incident.severity} to {severity.name}",
        {"from": incident.severity, "to": severity.name, "direction": direction},
    )
    incident.severity = severity.name
    incident.severity_rank = severity.rank


def _change_services(
    session: Session, incident: Incident, services: list[str], actor: str, now: datetime
) -> None:
    before = sorted(s.service for s in incident.services)
    incident.services = [IncidentService(service=s) for s in services]
    _record(
        session,
        incident,
        now,
        actor,
        "services_changed",
        "Affected services: " + (", ".join(services) or "none"),
        {"from": before, "to": services},
    )


def _assign_role(
    session: Session, incident: Incident, role: str, people: list[str], actor: str, now: datetime
) -> bool:
    """Give `role` to `people`; whether that changed anything."""
    current = [r.person for r in incident.roles if r.role == role]
    if current == people:
        return False
    leaving = [r for r in incident.roles if r.role == role and r.person not in people]
    for assignment in leaving:
        incident.roles.remove(assignment)
    session.flush()  # the rows of people who leave go before anyone (re)joins
    incident.roles.extend(
        IncidentRole(role=role, person=p, assigned_at=now, assigned_by=actor)
        for p in people
        if p not in current
    )
    if people:
        _record(
            session,
            incident,
            now,
            actor,
            "role_assigned",
            f"{', '.join(people)} assigned as {role}",
            {"role": role, "people": people, "previous": current},
        )
    else:
        _record(
            session,
            incident,
            now,
            actor,
            "role_cleared",
            f"{role} cleared",
            {"role": role, "previous": current},
        )
    return True


def _acknowledger(session: Session, incident: Incident) -> str | None:
    return session.scalar(
        select(TimelineEvent.actor)
        .where(TimelineEvent.incident_id == incident.id, TimelineEvent.kind == "acknowledged")
        .order_by(TimelineEvent.id.desc())
        .limit(1)
    )


def _severity(policy: Policy, name: str, field: str = "severity") -> Severity:
    try:
        return policy.severity(name)
    except UnknownSeverity as exc:
        raise InvalidInput(field, str(exc)) from None


def _services(policy: Policy, names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if policy.service(n) is None]
    if unknown:
        known = ", ".join(s.name for s in policy.services) or "none defined in the policy"
        raise InvalidInput("services", f"unknown service {unknown[0]!r}; known: {known}")
    return sorted(set(names))


def _drill_responders(policy: Policy, names: Sequence[str]) -> list[str]:
    for name in names:
        if policy.person(name) is None:
            raise InvalidInput("drill_responders", f"unknown person {name!r}")
    return list(dict.fromkeys(names))


def _roles(policy: Policy, roles: dict[str, str | list[str] | None]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for role, value in roles.items():
        definition = policy.role(role)
        if definition is None:
            known = ", ".join(r.name for r in policy.roles)
            raise InvalidInput(f"roles.{role}", f"unknown role {role!r}; known: {known}")
        people = [] if value is None else [value] if isinstance(value, str) else list(value)
        if len(people) > 1 and not definition.multiple:
            raise InvalidInput(f"roles.{role}", f"{role} is held by one person at a time")
        for person in people:
            if policy.person(person) is None:
                raise InvalidInput(f"roles.{role}", f"unknown person {person!r}")
        result[role] = list(dict.fromkeys(people))
    return result
