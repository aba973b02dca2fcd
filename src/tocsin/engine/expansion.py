"""What a notification becomes: its deliveries, and at send time the message an adapter
gets.

A person-level message (channel ``person``) is expanded by the person's notification
rules (several channels, some delayed, a delayed step skipped ``unless`` the incident
is still waiting); a channel-level one (a broadcast) into one delivery. Only channels
that can send get deliveries: a step on a channel that is not configured is skipped
without a trace (the policy warnings say it once), and a person no configured channel
reaches at once also gets the message on the fallback (console) channel, so no page is
lost. A channel-level message for a channel that is not configured is cancelled.

The text is rendered once, at expansion: a policy template named after the kind
("page") if there is one and the message is about an incident, else the text it was
queued with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tocsin.engine.comms import person_facts, render_for_incident
from tocsin.engine.delivery_timeline import fail_delivery
from tocsin.incidents.drills import OUTSIDE_CHANNEL_TYPES, is_drill, mark_subject
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.service import get_by_id
from tocsin.notify import deliveries
from tocsin.notify.channels import Channel, IncidentSummary, OutboundMessage, Recipient
from tocsin.notify.models import Delivery, DeliveryState, Notification, NotificationState
from tocsin.notify.rules import PlannedStep, deliverable_steps, plan_steps
from tocsin.notify.service import PERSON_CHANNEL
from tocsin.policy import Policy
from tocsin.policy.durations import format_duration
from tocsin.templating import TemplateError, message_extras

__all__ = ["expand", "outbound_message", "recipient"]

log = logging.getLogger("tocsin.delivery")


def recipient(policy: Policy, name: str) -> Recipient | None:
    """The person called ``name``, with the contact details the policy has."""
    person = policy.person(name) if name else None
    if person is None:
        return None
    return Recipient(
        person.name, person.display_name, person.email, person.chat, person.phone, person.slack
    )


def expand(
    *,
    session: Session,
    policy: Policy,
    adapters: Mapping[str, Channel],
    notification: Notification,
    now: datetime,
    fallback: str | None = None,
) -> None:
    """Split ``notification`` into its pending deliveries on the channels that can send
    (``adapters``), failing at once the ones that cannot go: an unknown person, a
    problem the message was queued with."""
    incident = (
        get_by_id(session=session, incident_id=notification.incident_id, with_related=False)
        if notification.incident_id is not None
        else None
    )
    data = notification.data or {}
    person = recipient(policy, notification.person)
    problem = data.get("problem")
    if notification.channel == PERSON_CHANNEL:
        severity = data.get("severity") or (incident.severity if incident else None)
        planned = plan_steps(
            policy, person=notification.person, kind=notification.kind, severity=severity
        )
        steps = deliverable_steps(
            planned,
            can_send=adapters.__contains__,
            reaches=lambda name: (
                person is not None and name in adapters and bool(adapters[name].address(person))
            ),
            fallback=fallback if fallback in adapters else None,
        )
        if person is None:  # one dead letter says it
            steps = steps[:1] or planned[:1]
        elif not steps:  # no channel at all can send: the dead letter, not a silent drop
            steps = planned[:1]
            problem = f"no configured channel can reach {notification.person}"
    elif notification.channel not in adapters:
        _skip(notification, now)
        return
    else:
        steps = [PlannedStep(0, notification.channel, timedelta(0), None)]
    subject, body, html = _content(session, policy, notification, incident, now)
    if is_drill(incident):
        # A drill's messages say so, and never leave through an outside system.
        subject = mark_subject(subject)
        inside = [s for s in steps if not _outside(policy, s.channel)]
        if steps and not inside:
            notification.state = DeliveryState.cancelled.value
            notification.delay_reason = "a drill never goes to an outside system"
            notification.expanded_at = now
            return
        steps = inside
    for step in steps:
        target: str | None = data.get("target")
        adapter = adapters.get(step.channel)
        if notification.channel == PERSON_CHANNEL and adapter is not None and person:
            target = adapter.address(person)
        delivery = deliveries.add(
            session=session,
            notification=notification,
            step=step.step,
            channel=step.channel,
            target=target,
            unless=step.unless,
            subject=subject,
            body=body,
            html=html,
            due_at=max(now, notification.created_at + step.after),
            now=now,
            delay_reason=_delayed_step(step),
        )
        if notification.channel == PERSON_CHANNEL and person is None:
            problem = f"unknown person {notification.person!r} (not in the policy)"
        if problem:
            session.flush()
            fail_delivery(session=session, row=delivery, error=str(problem), now=now, refresh=False)
    notification.expanded_at = now
    # Summed up with the transaction's other messages, before it commits.
    deliveries.touch(session=session, notification_id=notification.id)


def _skip(notification: Notification, now: datetime) -> None:
    """A channel-level message for a channel that is not configured: nothing to send."""
    notification.state = NotificationState.cancelled.value
    notification.delay_reason = f"skipped: {notification.channel} is not configured"
    notification.expanded_at = now


def _outside(policy: Policy, channel: str) -> bool:
    config = policy.channels.get(channel)
    return config is not None and config.type in OUTSIDE_CHANNEL_TYPES


def _delayed_step(step: PlannedStep) -> str | None:
    """Why a later step of a person's notification rule waits: ``delayed step: sms 2m
    after the page, unless acknowledged``; None for a step that goes at once."""
    if step.after <= timedelta(0):
        return None
    unless = f", unless {step.unless}" if step.unless else ""
    return f"delayed step: {step.channel} {format_duration(step.after)} after the message{unless}"


def _content(
    session: Session,
    policy: Policy,
    notification: Notification,
    incident: Incident | None,
    now: datetime,
) -> tuple[str, str, str | None]:
    """The message text: a policy template named after the kind ("page") if there is
    one and the message is about an incident, else the text it was queued with."""
    data = notification.data or {}
    html = data.get("html") if isinstance(data.get("html"), str) else None
    if incident is None or notification.kind not in policy.templates:
        return notification.subject, notification.body, html
    extra = message_extras(
        person=person_facts(policy, notification.person),
        reason=notification.reason,
        kind=notification.kind,
        subject=notification.subject,
        body=notification.body,
    )
    try:
        message = render_for_incident(
            session=session,
            policy=policy,
            incident=incident,
            template=notification.kind,
            now=now,
            extra=extra,
        )
    except TemplateError as exc:
        log.warning("notification %s: %s; sending the plain text", notification.id, exc)
        return notification.subject, notification.body, html
    return message.subject, message.text, message.html


def outbound_message(*, session: Session, policy: Policy, row: Delivery) -> OutboundMessage:
    """The message the adapter gets for the claimed delivery ``row``."""
    incident = (
        get_by_id(session=session, incident_id=row.incident_id, with_related=False)
        if row.incident_id is not None
        else None
    )
    notification = session.get(Notification, row.notification_id)
    data = dict(notification.data or {}) if notification is not None else {}
    data.pop("html", None)
    return OutboundMessage(
        key=row.key,
        channel=row.channel,
        kind=row.kind,
        target=row.target,
        subject=row.subject,
        text=row.body,
        html=row.html,
        person=recipient(policy, row.person),
        incident=IncidentSummary(
            format_incident_id(incident.number),
            incident.title,
            incident.severity,
            incident.status,
        )
        if incident is not None
        else None,
        reason=notification.reason if notification is not None else "",
        attempt=row.attempts,
        created_at=row.created_at,
        data=data,
    )
