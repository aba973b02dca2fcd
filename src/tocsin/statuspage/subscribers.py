"""Email subscribers: double opt-in, one-click unsubscribe, one email per public update.

Messages go to the outbox (:func:`tocsin.notify.service.enqueue`) with kind
``subscriber``, channel ``email`` and the address in ``person`` as ``email:<address>``
(a subscriber is not a person of the policy). Update emails carry the headers of
RFC 8058 in ``data["headers"]`` for the email channel to set::

    List-Unsubscribe: <https://status.example.com/unsubscribe?token=...>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

Fan-out happens in a job (``statuspage_notify``) rather than in the request that posts
the update: the request stays fast however many subscribers there are, and each email's
idempotency key (update, subscriber) makes a retried job send nobody twice.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db.jobs import schedule
from tocsin.errors import InvalidInput
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.policy import Policy
from tocsin.policy.statuspage import SUBSCRIBER_CHANNEL, StatusPageSettings
from tocsin.statuspage.models import (
    ScheduledMaintenance,
    StatusIncident,
    StatusIncidentUpdate,
    Subscriber,
)
from tocsin.statuspage.rules import format_time

__all__ = [
    "CONFIRM_TTL",
    "EMAIL_CHANNEL",
    "EMAIL_PREFIX",
    "NOTIFY",
    "ConfirmOutcome",
    "SubscribeOutcome",
    "confirm",
    "handle_notify",
    "normalize_email",
    "schedule_maintenance_notification",
    "schedule_notification",
    "subscribe",
    "unsubscribe",
]

NOTIFY = "statuspage_notify"
EMAIL_CHANNEL = SUBSCRIBER_CHANNEL
EMAIL_PREFIX = "email:"
#: How long a confirmation link works.
CONFIRM_TTL = timedelta(hours=48)
#: A second subscription request for an unconfirmed address sends a new link only after
#: this long, so that the form cannot be used to flood someone's inbox.
RESEND_AFTER = timedelta(minutes=5)
#: The outbox's ``person`` column holds 100 characters, ``email:`` included.
MAX_EMAIL = 100 - len(EMAIL_PREFIX)

_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


class SubscribeOutcome(StrEnum):
    sent = "sent"
    resent = "resent"
    throttled = "throttled"
    already_confirmed = "already_confirmed"


class ConfirmOutcome(StrEnum):
    confirmed = "confirmed"
    invalid = "invalid"
    expired = "expired"


def normalize_email(raw: str) -> str:
    """A plain ``local@domain`` address, lower-cased; anything that could smuggle a
    second recipient or a header (spaces, commas, angle brackets, newlines) is refused."""
    email = raw.strip().lower()
    if not email:
        raise InvalidInput("email", "enter your email address")
    if len(email) > MAX_EMAIL:
        raise InvalidInput("email", f"must be at most {MAX_EMAIL} characters")
    if not _EMAIL.match(email):
        raise InvalidInput("email", "enter an email address such as name@example.com")
    return email


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _link(settings: StatusPageSettings, path: str, token: str) -> str:
    return f"{settings.url}{path}?token={quote(token, safe='')}"


def subscribe(*, session: Session, policy: Policy, email: str, now: datetime) -> SubscribeOutcome:
    """Start a subscription: store the address unconfirmed and email a one-time link.

    The caller shows the same answer whatever the outcome, so the form does not reveal
    who is subscribed.
    """
    settings = policy.status_page
    if not settings.subscriptions:
        raise InvalidInput("email", "this status page does not offer subscriptions")
    address = normalize_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    outcome = SubscribeOutcome.sent
    if subscriber is not None:
        if subscriber.confirmed_at is not None:
            return SubscribeOutcome.already_confirmed
        if now - subscriber.confirm_sent_at < RESEND_AFTER:
            return SubscribeOutcome.throttled
        outcome = SubscribeOutcome.resent
    else:
        subscriber = Subscriber(
            email=address,
            unsubscribe_token=secrets.token_urlsafe(32),
            created_at=now,
            confirm_sent_at=now,
        )
        session.add(subscriber)
    token = secrets.token_urlsafe(32)
    subscriber.confirm_token = _digest(token)
    subscriber.confirm_sent_at = now
    session.flush()
    link = _link(settings, "/subscribe/confirm", token)
    enqueue(
        session=session,
        key=f"statuspage:confirm:{subscriber.id}:{subscriber.confirm_token[:16]}",
        person=EMAIL_PREFIX + address,
        kind=NotificationKind.subscriber,
        channel=EMAIL_CHANNEL,
        subject=f"Confirm your subscription to {settings.title}",
        body=(
            f"Someone, hopefully you, asked to receive {settings.title} updates at this "
            f"address.\n\nTo confirm, open this link within "
            f"{int(CONFIRM_TTL.total_seconds() // 3600)} hours:\n{link}\n\n"
            "If you did not ask for this, ignore this email: nothing will be sent to "
            "you unless the link is opened.\n"
        ),
        reason="status page subscription: confirmation (double opt-in)",
        now=now,
        data={"to": address},
    )
    return outcome


def confirm(*, session: Session, token: str, now: datetime) -> ConfirmOutcome:
    """Use a confirmation link. The token works once; the subscription stays confirmed."""
    if not token:
        return ConfirmOutcome.invalid
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.confirm_token == _digest(token))
    )
    if subscriber is None:
        return ConfirmOutcome.invalid
    if now - subscriber.confirm_sent_at > CONFIRM_TTL:
        return ConfirmOutcome.expired
    subscriber.confirm_token = None
    subscriber.confirmed_at = now
    return ConfirmOutcome.confirmed


def unsubscribe(*, session: Session, token: str) -> bool:
    """Forget the subscriber the token belongs to; False if there is none (any more)."""
    if not token:
        return False
    subscriber = session.scalar(select(Subscriber).where(Subscriber.unsubscribe_token == token))
    if subscriber is None:
        return False
    session.delete(subscriber)
    session.flush()
    return True


# ---------------------------------------------------------------- fan-out


def _anyone(*, session: Session) -> bool:
    """Whether a confirmed subscriber exists (no job is scheduled for an empty list)."""
    query = select(Subscriber.id).where(Subscriber.confirmed_at.is_not(None)).limit(1)
    with session.no_autoflush:  # nothing unflushed can confirm a subscriber
        return session.scalar(query) is not None


def schedule_notification(
    *, session: Session, policy: Policy, update: StatusIncidentUpdate, now: datetime
) -> None:
    if not policy.status_page.automation.notify_subscribers or not _anyone(session=session):
        return
    schedule(
        session=session,
        kind=NOTIFY,
        due_at=now,
        payload={"update_id": update.id},
        key=f"{NOTIFY}:update:{update.code}",
        now=now,
    )


def schedule_maintenance_notification(
    *, session: Session, policy: Policy, maintenance: ScheduledMaintenance, now: datetime
) -> None:
    if not policy.status_page.automation.notify_subscribers or not _anyone(session=session):
        return
    schedule(
        session=session,
        kind=NOTIFY,
        due_at=now,
        payload={"maintenance_id": maintenance.id},
        key=f"{NOTIFY}:maintenance:{maintenance.code}",
        now=now,
    )


def _footer(settings: StatusPageSettings, subscriber: Subscriber) -> tuple[str, dict[str, Any]]:
    unsubscribe_url = _link(settings, "/unsubscribe", subscriber.unsubscribe_token)
    footer = (
        f"\n--\nYou receive this because you subscribed to {settings.title}.\n"
        f"Unsubscribe: {unsubscribe_url}\n"
    )
    data = {
        "to": subscriber.email,
        "headers": {
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    return footer, data


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _confirmed(*, session: Session) -> list[Subscriber]:
    return list(
        session.scalars(
            select(Subscriber).where(Subscriber.confirmed_at.is_not(None)).order_by(Subscriber.id)
        )
    )


def _update_message(
    settings: StatusPageSettings, incident: StatusIncident, update: StatusIncidentUpdate
) -> tuple[str, str]:
    tz = ZoneInfo(settings.time_zone)
    label = update.status.capitalize()
    components = ", ".join(incident.components) or "none listed"
    subject = _one_line(f"[{settings.title}] {incident.name}: {label}")
    body = (
        f"{incident.name}\n\n{label} - {update.body}\n\n"
        f"Affected components: {components}\n"
        f"Posted {format_time(update.display_at, tz)}\n"
        f"Details: {settings.url}/incidents/{incident.code}\n"
    )
    return subject, body


def _maintenance_message(
    settings: StatusPageSettings, maintenance: ScheduledMaintenance
) -> tuple[str, str]:
    tz = ZoneInfo(settings.time_zone)
    text = maintenance.updates[-1].body if maintenance.updates else ""
    subject = _one_line(f"[{settings.title}] Scheduled maintenance: {maintenance.name}")
    body = (
        f"{maintenance.name}\n\n"
        f"Scheduled from {format_time(maintenance.scheduled_for, tz)} "
        f"to {format_time(maintenance.scheduled_until, tz)}\n"
        f"Components: {', '.join(maintenance.components) or 'none listed'}\n\n{text}\n"
        f"Details: {settings.url}/maintenances/{maintenance.code}\n"
    )
    return subject, body


def handle_notify(
    *, session: Session, policy: Policy, payload: Mapping[str, Any], now: datetime
) -> str:
    """The job: queue one email per confirmed subscriber (idempotently)."""
    settings = policy.status_page
    if "update_id" in payload:
        update = session.get(StatusIncidentUpdate, int(payload["update_id"]))
        if update is None:
            return "gone"
        incident = session.get(StatusIncident, update.status_incident_id)
        if incident is None or incident.published_at is None:
            return "not published"
        subject, body = _update_message(settings, incident, update)
        key = f"statuspage:update:{update.code}"
    else:
        maintenance = session.get(ScheduledMaintenance, int(payload["maintenance_id"]))
        if maintenance is None:
            return "gone"
        subject, body = _maintenance_message(settings, maintenance)
        key = f"statuspage:maintenance:{maintenance.code}"
    queued = 0
    for subscriber in _confirmed(session=session):
        footer, data = _footer(settings, subscriber)
        queued += enqueue(
            session=session,
            key=f"{key}:{subscriber.id}",
            person=EMAIL_PREFIX + subscriber.email,
            kind=NotificationKind.subscriber,
            channel=EMAIL_CHANNEL,
            subject=subject,
            body=body + footer,
            reason="status page subscriber",
            now=now,
            data=data,
        )
    return f"queued {queued}"
