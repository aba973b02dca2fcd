"""Incident communications: message templates rendered for real incidents, and the
broadcasts that post an incident's announcements to channel-level destinations.

Broadcasts follow the incident timeline (append-only): each event of a kind a broadcast
announces (declared, update_posted, resolved, ...) becomes one outbox message per
destination, keyed by the event's id, so reading an event twice queues nothing twice.
The feed keeps a cursor (`delivery_cursors`) and also re-reads the events just behind
it that were recorded in the last `RECENT` seconds: on PostgreSQL a transaction that
took a lower event id can commit after one with a higher id, and the re-read catches
it. Older events behind the cursor are never announced, so configuring a broadcast
does not replay history.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from tocsin.db.direct import DirectStatement
from tocsin.errors import InvalidInput
from tocsin.incidents.drills import is_drill
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.queries import hold_incidents
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.service import get_by_id, list_updates
from tocsin.notify import outbox
from tocsin.notify.models import NotificationKind
from tocsin.notify.rules import plan_broadcasts
from tocsin.notify.service import enqueue
from tocsin.policy import Policy, UnknownSeverity
from tocsin.policy.channels import BROADCAST_EVENTS
from tocsin.policy.templates import BUILTIN_TEMPLATES, MessageTemplate, template_parts
from tocsin.templating import (
    IncidentFacts,
    PersonFacts,
    RenderedMessage,
    ServiceFacts,
    TemplateError,
    UpdateFacts,
    build_context,
    message_extras,
    render_parts,
)

__all__ = [
    "BroadcastFeed",
    "find_template",
    "incident_facts",
    "person_facts",
    "render_for_incident",
    "template_names",
]

log = logging.getLogger("tocsin.delivery")

FEED = "broadcasts"
#: How many event ids behind the cursor each pass re-reads at most, and how recent
#: they must be (see the module docstring).
OVERLAP = 200
RECENT = timedelta(seconds=30)


def find_template(policy: Policy, name: str) -> MessageTemplate | None:
    """The policy's template called ``name``, else the built-in one."""
    return policy.templates.get(name) or BUILTIN_TEMPLATES.get(name)


def template_names(policy: Policy) -> dict[str, str]:
    """Every template name with its description (policy ones replace built-ins)."""
    merged: dict[str, MessageTemplate] = {**BUILTIN_TEMPLATES, **policy.templates}
    return {name: merged[name].description for name in sorted(merged)}


def person_facts(policy: Policy, name: str) -> PersonFacts:
    person = policy.person(name)
    if person is None:
        return PersonFacts(name=name, display_name=name)
    return PersonFacts(name, person.display_name, person.email, person.chat)


def incident_facts(*, session: Session, policy: Policy, incident: Incident) -> IncidentFacts:
    try:
        severity = policy.severity(incident.severity)
        description = severity.description
        update_every = severity.update_every
    except UnknownSeverity:  # a severity removed from the policy since
        description, update_every = "", None
    services = []
    for name in sorted(s.service for s in incident.services):
        service = policy.service(name)
        component = service.status_page.component if service and service.status_page else None
        services.append(
            ServiceFacts(
                name=name,
                description=service.description if service else "",
                customer_facing=bool(service and service.customer_facing),
                component=component,
                team=service.team if service else None,
            )
        )
    roles: dict[str, list[PersonFacts]] = {}
    for assignment in incident.roles:
        roles.setdefault(assignment.role, []).append(person_facts(policy, assignment.person))
    updates = tuple(
        UpdateFacts(u.created_at, u.status, u.message, u.public, u.actor)
        for u in list_updates(session=session, incident=incident)
    )
    return IncidentFacts(
        id=format_incident_id(incident.number),
        number=incident.number,
        title=incident.title,
        description=incident.description,
        status=incident.status,
        severity=incident.severity,
        severity_description=description,
        created_at=incident.created_at,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        tags=tuple(incident.tags),
        services=tuple(services),
        roles={role: tuple(people) for role, people in roles.items()},
        update_every=update_every,
        updates=updates,
    )


def render_for_incident(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    template: str,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
) -> RenderedMessage:
    """Render the template called ``template`` for ``incident``.

    Raises :class:`InvalidInput` for an unknown template and
    :class:`tocsin.templating.TemplateError` (naming the template and line) for one that
    fails to render.
    """
    found = find_template(policy, template)
    if found is None:
        known = ", ".join(template_names(policy))
        raise InvalidInput("template", f"unknown template {template!r}; known: {known}")
    facts = incident_facts(session=session, policy=policy, incident=incident)
    context = build_context(facts, now=now, extra={**message_extras(), **(extra or {})})
    return render_parts(template_parts(template, found), context)


class BroadcastFeed:
    """Turns timeline events into broadcast messages in the outbox (see the module doc)."""

    def __init__(self, batch: int = 500) -> None:
        self.batch = batch
        self._done: set[int] = set()

    def needed(self, *, session: Session, policy: Policy, now: datetime) -> bool:
        """Whether a pass would do anything (read-only).

        With broadcasts, only an event of a kind they announce needs a pass (each one a
        write transaction, and in a storm the timeline grows all the time); the cursor
        still catches up once :data:`OVERLAP` events are past it, so reading past it
        stays short. Without broadcasts the cursor keeps up with every event, so that
        enabling them later announces nothing of the past."""
        position = outbox.cursor_position(session=session, name=FEED)
        latest = _LATEST_EVENT.fetch(session, {})[0][0] or 0
        if position is None:
            return True
        if not policy.broadcasts:
            return position < latest
        if latest - position > OVERLAP:
            return True
        recent = session.scalars(_recent_events(), _window(position, now, limit=None))
        return any(event_id not in self._done for event_id in recent)

    def run(
        self,
        *,
        session: Session,
        policy: Policy,
        now: datetime,
        can_send: Callable[[str], bool] = lambda _channel: True,
    ) -> int:
        """One pass; returns the number of messages queued. Destinations on channels
        that cannot send (``can_send``: not configured) are skipped: nothing is queued."""
        newest_event: int | None = _LATEST_EVENT.fetch(session, {})[0][0]
        if not policy.broadcasts:
            # Nothing to announce: keep the cursor moving so enabling broadcasts later
            # does not announce the past.
            if newest_event is not None:
                outbox.read_cursor(session=session, name=FEED, default=newest_event, now=now)
                outbox.advance_cursor(session=session, name=FEED, position=newest_event, now=now)
            return 0
        position = outbox.read_cursor(session=session, name=FEED, default=0, now=now)
        latest = newest_event or 0
        window = _window(position, now, limit=self.batch)
        events = list(session.scalars(_feed_events(), window))
        held = hold_incidents(
            session=session,
            ids=[e.incident_id for e in events if e.id not in self._done],
            with_related=True,
        )
        queued = 0
        for timeline_event in events:
            if timeline_event.id in self._done:
                continue
            queued += self._announce(session, policy, timeline_event, now, can_send)
        del held
        newest = max((e.id for e in events), default=position)
        if len(events) < self.batch:  # all read: the events of other kinds are past too
            newest = max(newest, latest)
        if newest > position:
            outbox.advance_cursor(session=session, name=FEED, position=newest, now=now)
        self._done = {i for i in self._done if i > newest - 2 * OVERLAP}
        self._done.update(e.id for e in events)
        return queued

    def _announce(
        self,
        session: Session,
        policy: Policy,
        event: TimelineEvent,
        now: datetime,
        can_send: Callable[[str], bool],
    ) -> int:
        incident = get_by_id(session=session, incident_id=event.incident_id)
        if incident is None or is_drill(incident):
            return 0  # a drill is announced to nobody beyond the people in it
        services = sorted(s.service for s in incident.services)
        planned = plan_broadcasts(
            policy, event=event.kind, severity=incident.severity, services=services
        )
        queued = 0
        for plan in planned:
            if not can_send(plan.channel):
                continue
            data: dict[str, Any] = {
                "target": plan.target,
                "event": event.kind,
                "template": plan.template,
                "broadcast": plan.broadcast,
                "incident": format_incident_id(incident.number),
                "severity": incident.severity,
            }
            subject = f"[{incident.severity}] {format_incident_id(incident.number)}: {event.kind}"
            body = event.summary
            try:
                message = render_for_incident(
                    session=session,
                    policy=policy,
                    incident=incident,
                    template=plan.template,
                    now=event.at,
                    extra=message_extras(
                        kind="broadcast",
                        reason=f"broadcast {plan.broadcast}",
                        event=event.kind,
                        event_summary=event.summary,
                    ),
                )
                subject, body, data["html"] = message.subject, message.text, message.html
            except (TemplateError, InvalidInput) as exc:
                data["problem"] = f"template failed: {exc}"
            if plan.problem:
                data["problem"] = plan.problem
            target = plan.target or ""
            if len(target) > 80:
                target = hashlib.sha256(target.encode()).hexdigest()[:16]
            queued += enqueue(
                session=session,
                key=f"bcast:{event.id}/{plan.broadcast}/{plan.destination}/{target}",
                person="",
                kind=NotificationKind.broadcast,
                subject=subject,
                body=body,
                reason=f"broadcast {plan.broadcast}: {event.kind}",
                now=now,
                incident_id=incident.id,
                channel=plan.channel,
                data=data,
                lane=incident.lane,
            )
        return queued


# The feed's questions before each delivery round, built once (asked many times a second
# under load, building and keying them anew cost more than the database's answer).
_LATEST_EVENT = DirectStatement(lambda _dialect: select(func.max(TimelineEvent.id)))


def _window(position: int, now: datetime, *, limit: int | None) -> dict[str, Any]:
    """The values of :func:`_announced_kinds`' window around the cursor ``position``."""
    window: dict[str, Any] = {
        "start": position - OVERLAP,
        "position": position,
        "since": now - RECENT,
    }
    if limit is not None:
        window["limit"] = limit
    return window


def _announced_kinds() -> tuple[ColumnElement[bool], ...]:
    """Events of the kinds broadcasts announce, past the cursor (or recent, within
    :data:`OVERLAP` before it: a slower transaction may commit a lower id late)."""
    return (
        TimelineEvent.id > bindparam("start"),
        or_(TimelineEvent.id > bindparam("position"), TimelineEvent.at >= bindparam("since")),
        TimelineEvent.kind.in_(BROADCAST_EVENTS),
    )


@functools.cache
def _recent_events() -> Select[int]:
    return select(TimelineEvent.id).where(*_announced_kinds())


@functools.cache
def _feed_events() -> Select[TimelineEvent]:
    return (
        select(TimelineEvent)
        .where(*_announced_kinds())
        .order_by(TimelineEvent.id)
        .limit(bindparam("limit"))
    )
