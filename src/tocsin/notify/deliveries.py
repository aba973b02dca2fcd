"""The state machine of the outbox's deliveries: every change of a `Delivery` row is
made here, inside the caller's transaction (the delivery worker's).

::

    (new) ──add──▶ pending ──claim──▶ sending ──mark_sent──▶ sent
                    │  ▲ │               │
            cancel  │  │ └─delay         ├──schedule_retry──▶ pending (due later)
                    ▼  │                 └──fail──▶ failed (the dead letter)
               cancelled ├── schedule_retry (a lost send, resent at once)
                         └── hand_back (claimed by a stopping worker, never started)

A stopping worker hands back what it claimed (:func:`hand_back`): a send it never
started is pending again at once; one still under way gets a deadline of now, so
another worker's recovery takes it at once instead of after the deadline.

A pending delivery may also ``fail`` (no address, an unknown person). Each change
notes the notification it belongs to (:func:`touch`); :func:`refresh_touched`, called
once before the transaction commits, sums those notifications up in id order (two
workers that touch the same notifications lock them in the same order, so they never
deadlock). What to do after a failed attempt is decided by :mod:`tocsin.notify.retry`
and applied by :func:`apply`. The timeline entry of a dead letter is the caller's (the
incidents domain sits above this one). Each outcome — sent, a retry, failed — is told to
the outbox's observers (:mod:`tocsin.notify.observers`) in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.notify import outbox
from tocsin.notify.models import Delivery, DeliveryState, Notification
from tocsin.notify.observers import OBSERVERS, DeliveryOutcome
from tocsin.notify.retry import RetryDecision
from tocsin.policy.reach import message_noun

__all__ = [
    "add",
    "apply",
    "cancel",
    "claim",
    "delay",
    "describe",
    "fail",
    "hand_back",
    "mark_sent",
    "refresh_touched",
    "schedule_retry",
    "touch",
]

log = logging.getLogger("tocsin.delivery")

_TOUCHED = "tocsin_delivery_touched"
_ERROR_LIMIT = 2000


def touch(*, session: Session, notification_id: int) -> None:
    """Note a notification whose deliveries changed; :func:`refresh_touched` sums it up."""
    session.info.setdefault(_TOUCHED, set()).add(notification_id)


def refresh_touched(*, session: Session) -> None:
    """Bring the notifications noted by :func:`touch` up to date, in id order."""
    outbox.refresh_notifications(session=session, notification_ids=session.info.pop(_TOUCHED, ()))


def describe(row: Delivery) -> str:
    """``page to charlie by sms``, ``announcement to #incidents by slack``,
    ``announcement by pagerduty``: what a delivery is, for logs and timelines."""
    to = row.person or row.target
    return f"{message_noun(row.kind)}{f' to {to}' if to else ''} by {row.channel}"


def _release(row: Delivery) -> None:
    row.claimed_by = None
    row.deadline_at = None


def add(
    *,
    session: Session,
    notification: Notification,
    step: int,
    channel: str,
    target: str | None,
    unless: str | None,
    subject: str,
    body: str,
    html: str | None,
    due_at: datetime,
    now: datetime,
    delay_reason: str | None = None,
) -> Delivery:
    """A new pending delivery of ``notification`` on ``channel`` (its ``step``-th); its
    key, the idempotency key the channels receive, is the notification's key + step +
    channel."""
    delivery = Delivery(
        notification_id=notification.id,
        key=f"{notification.key}#{step}:{channel}",
        incident_id=notification.incident_id,
        person=notification.person,
        kind=notification.kind,
        channel=channel,
        target=target,
        step=step,
        unless=unless,
        subject=subject[:300],
        body=body,
        html=html,
        state=DeliveryState.pending.value,
        attempts=0,
        due_at=due_at,
        delay_reason=delay_reason,
        created_at=now,
        lane=notification.lane,
    )
    session.add(delivery)
    return delivery


def cancel(*, session: Session, row: Delivery, reason: str) -> None:
    """pending → cancelled (a delayed step the incident's progress made moot)."""
    row.state = DeliveryState.cancelled.value
    row.delay_reason = reason
    touch(session=session, notification_id=row.notification_id)


def delay(*, session: Session, row: Delivery, until: datetime, reason: str) -> None:
    """A pending delivery waits until ``until`` (a rate limit, a blocked channel)."""
    row.due_at = until
    row.delay_reason = reason
    touch(session=session, notification_id=row.notification_id)


def claim(
    *, session: Session, row: Delivery, worker: str, deadline: datetime, now: datetime
) -> None:
    """pending → sending: one more attempt, by ``worker``, presumed lost after
    ``deadline``."""
    row.state = DeliveryState.sending.value
    row.attempts += 1
    row.started_at = now
    row.claimed_by = worker
    row.deadline_at = deadline
    row.delay_reason = None
    touch(session=session, notification_id=row.notification_id)


def hand_back(*, session: Session, row: Delivery, started: bool, now: datetime) -> None:
    """A stopping worker gives up its claim of ``row``: a send it never started is
    pending again, due now, its attempt not counted; one still under way (its outcome
    unknown) is presumed lost now, for the next worker's recovery to decide."""
    if not started:
        row.state = DeliveryState.pending.value
        row.attempts = max(0, row.attempts - 1)
        row.due_at = now
        row.delay_reason = None
        _release(row)
    else:
        row.deadline_at = now
    touch(session=session, notification_id=row.notification_id)


def mark_sent(*, session: Session, row: Delivery, now: datetime) -> None:
    """→ sent."""
    row.state = DeliveryState.sent.value
    row.sent_at = now
    row.last_error = None
    row.delay_reason = None
    _release(row)
    touch(session=session, notification_id=row.notification_id)
    OBSERVERS.delivered(session=session, row=row, outcome=DeliveryOutcome.sent)


def schedule_retry(*, session: Session, row: Delivery, at: datetime, reason: str) -> None:
    """→ pending again, due at ``at``."""
    row.state = DeliveryState.pending.value
    row.due_at = at
    row.delay_reason = reason
    _release(row)
    touch(session=session, notification_id=row.notification_id)
    OBSERVERS.delivered(session=session, row=row, outcome=DeliveryOutcome.retry)


def fail(*, session: Session, row: Delivery, error: str, refresh: bool = True) -> None:
    """→ failed, the dead letter, with ``error``. ``refresh=False`` while the
    notification is being expanded (it is summed up once, at the end)."""
    row.state = DeliveryState.failed.value
    row.last_error = error[:_ERROR_LIMIT]
    row.delay_reason = None
    _release(row)
    log.warning("delivery %s (%s) failed: %s", row.id, describe(row), error)
    if refresh:
        touch(session=session, notification_id=row.notification_id)
    OBSERVERS.delivered(session=session, row=row, outcome=DeliveryOutcome.failed)


def apply(
    *, session: Session, row: Delivery, decision: RetryDecision, error: str, now: datetime
) -> bool:
    """Record a failed attempt (``error``, the adapter's message) as ``decision`` says:
    a retry (for a rate limit, the channel is blocked until then too), or the dead
    letter. Returns True if the delivery failed."""
    row.last_error = error[:_ERROR_LIMIT]
    if decision.attempts is not None:
        row.attempts = decision.attempts
    if decision.retry:
        assert decision.at is not None
        if decision.block_channel:
            outbox.block_channel(
                session=session,
                channel=row.channel,
                until=decision.at,
                reason=decision.reason,
                now=now,
            )
        schedule_retry(session=session, row=row, at=decision.at, reason=decision.reason)
        return False
    fail(session=session, row=row, error=decision.reason)
    return True
