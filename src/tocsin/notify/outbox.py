"""The delivery side of the outbox: claiming and queries, inside the caller's
transaction (the delivery worker's, `tocsin.engine.delivery`). The deliveries' state
changes are `tocsin.notify.deliveries`; the retry decisions, `tocsin.notify.retry`.

Claims follow the engine's conventions: due rows are read with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL (so several workers share the work without waiting on each
other) and serialised by the single writer on SQLite. A delivery being sent is
``sending`` with a ``deadline_at`` and the claiming worker's name; the worker records the
outcome in a second, short transaction after the send. Every function takes the
``session`` keyword-only, first.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from tocsin.db.direct import DirectStatement
from tocsin.db.lanes import Turns
from tocsin.db.signals import CommitSignal
from tocsin.notify.models import (
    ChannelThrottle,
    Delivery,
    DeliveryCursor,
    DeliveryState,
    Notification,
    NotificationState,
)
from tocsin.notify.rules import summarize

__all__ = [
    "advance_cursor",
    "block_channel",
    "cancel_deliveries",
    "channel_block",
    "claim_expansions",
    "cursor_position",
    "deliveries_of",
    "due_candidates",
    "due_channels",
    "expired_sends",
    "forget_wakeup",
    "hold_notifications",
    "lock_delivery",
    "next_wakeup_at",
    "pending_work",
    "read_cursor",
    "recent_starts",
    "refresh_notification",
    "refresh_notifications",
    "unsettled",
    "wakeup",
]

_Q = TypeVar("_Q", bound=Select[Any])
_PENDING = DeliveryState.pending.value
_SENDING = DeliveryState.sending.value


def _locked(session: Session, query: _Q) -> _Q:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


# ---------------------------------------------------------------- expansion


def claim_expansions(*, session: Session, now: datetime, limit: int) -> list[Notification]:
    """Due notifications not yet split into deliveries, locked for this transaction,
    in turns across lanes (:mod:`tocsin.db.lanes`)."""
    return _unexpanded().claim(session, limit, now=now)


@functools.cache
def _unexpanded() -> Turns[Notification]:
    return Turns(
        Notification,
        (
            Notification.state == NotificationState.pending.value,
            Notification.expanded_at.is_(None),
            Notification.due_at <= bindparam("now"),
        ),
    )


def hold_notifications(*, session: Session, ids: Iterable[int]) -> list[Notification]:
    """Read these notifications in one query, so that ``session.get`` finds each (the
    caller keeps the list while it needs them)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(session.scalars(select(Notification).where(Notification.id.in_(wanted))))


def deliveries_of(
    *, session: Session, notification_ids: Sequence[int]
) -> dict[int, list[Delivery]]:
    if not notification_ids:
        return {}
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.notification_id.in_(list(notification_ids)))
        .order_by(Delivery.notification_id, Delivery.step, Delivery.id)
    )
    found: dict[int, list[Delivery]] = {}
    for row in rows:
        found.setdefault(row.notification_id, []).append(row)
    return found


def refresh_notification(*, session: Session, notification_id: int) -> Notification | None:
    """Sum a notification's deliveries up into its own state (see
    :func:`refresh_notifications`)."""
    return refresh_notifications(session=session, notification_ids=[notification_id]).get(
        notification_id
    )


def refresh_notifications(
    *, session: Session, notification_ids: Iterable[int]
) -> dict[int, Notification]:
    """Sum each notification's deliveries up into its own state, due time and errors;
    returns the notifications found, by id. Two reads however many there are.

    The notifications' rows are locked first (on PostgreSQL, in id order), so that two
    senders that finished two deliveries of one message at the same moment sum up one
    after the other, the second seeing the first's outcome, rather than both from before
    it (which could leave a sent message looking "sending"); and two workers that touch
    the same notifications lock them in the same order, so they never deadlock."""
    ids = sorted(set(notification_ids))
    if not ids:
        return {}
    session.flush()
    query = select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update().execution_options(populate_existing=True)
    found = {n.id: n for n in session.scalars(query)}
    expanded = [n for n in found.values() if n.expanded_at is not None]
    rows = deliveries_of(session=session, notification_ids=[n.id for n in expanded])
    for notification in expanded:
        _sum_up(notification, rows.get(notification.id, []))
    return found


def _sum_up(notification: Notification, rows: Sequence[Delivery]) -> None:
    if not rows:
        return
    notification.state = summarize(r.state for r in rows)
    waiting = sorted((r for r in rows if r.state == _PENDING), key=lambda r: (r.due_at, r.id))
    if waiting:
        notification.due_at = waiting[0].due_at
        notification.delay_reason = waiting[0].delay_reason
    else:
        notification.delay_reason = None
    sent = [r.sent_at for r in rows if r.sent_at is not None]
    notification.sent_at = min(sent) if sent else None
    errors = [f"{r.channel}: {r.last_error}" for r in rows if r.state == "failed" and r.last_error]
    notification.last_error = "; ".join(errors)[:4000] or None
    notification.attempts = sum(r.attempts for r in rows)


# ---------------------------------------------------------------- sending


def due_channels(*, session: Session, now: datetime) -> list[str]:
    return [row[0] for row in _DUE_CHANNELS.fetch(session, {"now": now})]


#: Built once (the delivery worker asks many times a second under load), like the
#: other questions it asks before it takes the writer.
_DUE_CHANNELS = DirectStatement(
    lambda _dialect: (
        select(Delivery.channel)
        .where(Delivery.state == _PENDING, Delivery.due_at <= bindparam("now"))
        .distinct()
        .order_by(Delivery.channel)
    )
)


def due_candidates(*, session: Session, channel: str, now: datetime, limit: int) -> list[Delivery]:
    """Due pending deliveries on one channel, locked for this transaction, in turns
    across lanes (:mod:`tocsin.db.lanes`): oldest first within a turn."""
    return _due_on_channel().claim(session, limit, channel=channel, now=now)


@functools.cache
def _due_on_channel() -> Turns[Delivery]:
    return Turns(
        Delivery,
        (
            Delivery.channel == bindparam("channel"),
            Delivery.state == _PENDING,
            Delivery.due_at <= bindparam("now"),
        ),
    )


def recent_starts(
    *, session: Session, channel: str, since: datetime, person: str | None = None
) -> list[datetime]:
    """Start times of the sends on ``channel`` (to ``person``) after ``since``, for rate
    limits: messages sent or being sent count; ones that never went out do not."""
    query = select(Delivery.started_at).where(
        Delivery.channel == channel,
        Delivery.started_at > since,
        Delivery.state.in_([_SENDING, DeliveryState.sent.value]),
    )
    if person is not None:
        query = query.where(Delivery.person == person)
    return [t for t in session.scalars(query) if t is not None]


def lock_delivery(*, session: Session, delivery_id: int) -> Delivery | None:
    query = select(Delivery).where(Delivery.id == delivery_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def expired_sends(
    *, session: Session, now: datetime, exclude: Sequence[int] = (), limit: int = 100
) -> list[Delivery]:
    """Deliveries whose sender missed its deadline (crashed, or hung past its timeout)."""
    query = (
        select(Delivery)
        .where(Delivery.state == _SENDING, Delivery.deadline_at <= now)
        .order_by(Delivery.deadline_at, Delivery.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(Delivery.id.not_in(list(exclude)))
    return list(session.scalars(_locked(session, query)))


def channel_block(*, session: Session, channel: str, now: datetime) -> ChannelThrottle | None:
    """The channel's Retry-After block, if it is still in force."""
    row = session.get(ChannelThrottle, channel)
    if row is None or row.blocked_until <= now:
        return None
    return row


def block_channel(
    *, session: Session, channel: str, until: datetime, reason: str, now: datetime
) -> None:
    row = session.get(ChannelThrottle, channel)
    if row is None:
        session.add(
            ChannelThrottle(channel=channel, blocked_until=until, reason=reason, updated_at=now)
        )
    elif row.blocked_until < until or row.blocked_until <= now:
        row.blocked_until = until
        row.reason = reason
        row.updated_at = now


@dataclass(frozen=True)
class PendingWork:
    expired_sends: bool
    unexpanded: bool


def pending_work(*, session: Session, now: datetime) -> PendingWork:
    """Whether recovery or expansion has anything to do (cheap, read-only)."""
    expired = _ANY_EXPIRED.fetch(session, {"now": now})
    unexpanded = _ANY_UNEXPANDED.fetch(session, {"now": now})
    return PendingWork(expired_sends=bool(expired), unexpanded=bool(unexpanded))


_ANY_EXPIRED = DirectStatement(
    lambda _dialect: (
        select(Delivery.id)
        .where(Delivery.state == _SENDING, Delivery.deadline_at <= bindparam("now"))
        .limit(1)
    )
)
_ANY_UNEXPANDED = DirectStatement(
    lambda _dialect: (
        select(Notification.id)
        .where(
            Notification.state == NotificationState.pending.value,
            Notification.expanded_at.is_(None),
            Notification.due_at <= bindparam("now"),
        )
        .limit(1)
    )
)


def next_wakeup_at(*, session: Session, waiting: Collection[str] = ()) -> datetime | None:
    """The earliest moment the delivery worker has something to do. The deliveries of
    the ``waiting`` channels (every send slot taken) wait for a slot, not for a time:
    a send that ends there wakes the worker."""
    pending = select(func.min(Delivery.due_at)).where(Delivery.state == _PENDING)
    if waiting:
        pending = pending.where(Delivery.channel.not_in(sorted(waiting)))
    candidates = [
        session.scalar(pending),
        session.scalar(select(func.min(Delivery.deadline_at)).where(Delivery.state == _SENDING)),
        session.scalar(
            select(func.min(Notification.due_at)).where(
                Notification.state == NotificationState.pending.value,
                Notification.expanded_at.is_(None),
            )
        ),
    ]
    found = [c for c in candidates if c is not None]
    return min(found) if found else None


# ---------------------------------------------------------------- feed cursors


def cursor_position(*, session: Session, name: str) -> int | None:
    """Where the cursor ``name`` stands (None before its first read)."""
    found = _CURSOR_AT.fetch(session, {"name": name})
    return int(found[0][0]) if found else None


def read_cursor(*, session: Session, name: str, default: int, now: datetime) -> int:
    position = cursor_position(session=session, name=name)
    if position is None:
        session.add(DeliveryCursor(name=name, position=default, updated_at=now))
        session.flush()
        return default
    return position


def advance_cursor(*, session: Session, name: str, position: int, now: datetime) -> None:
    """Move the cursor forward (never back: two workers may race)."""
    _ADVANCE.execute(session, {"cursor": name, "to": position, "at": now})


# The feed's cursor is read before every delivery round and moved after each pass:
# built once, like the other questions asked before the writer is taken.
_CURSOR_AT = DirectStatement(
    lambda _dialect: select(DeliveryCursor.position).where(DeliveryCursor.name == bindparam("name"))
)
_ADVANCE = DirectStatement(
    lambda _dialect: (
        update(DeliveryCursor)
        .where(
            DeliveryCursor.name == bindparam("cursor"), DeliveryCursor.position < bindparam("to")
        )
        .values(position=bindparam("to"), updated_at=bindparam("at"))
    )
)


# ---------------------------------------------------------------- cancelling


def cancel_deliveries(
    *, session: Session, incident_id: int, kinds: Sequence[str], reason: str
) -> list[int]:
    """Cancel the pending deliveries of an incident's messages of ``kinds``; returns the
    notifications touched (the caller refreshes them)."""
    ids = list(
        session.scalars(
            select(Delivery.notification_id)
            .where(
                Delivery.incident_id == incident_id,
                Delivery.state == _PENDING,
                Delivery.kind.in_(list(kinds)),
            )
            .distinct()
        )
    )
    if ids:
        session.execute(
            update(Delivery)
            .where(
                Delivery.incident_id == incident_id,
                Delivery.state == _PENDING,
                Delivery.kind.in_(list(kinds)),
            )
            .values(state=DeliveryState.cancelled.value, delay_reason=reason)
        )
    return ids


def unsettled(*, session: Session, incident_id: int) -> list[int]:
    """Expanded notifications of an incident still pending or sending."""
    return list(
        session.scalars(
            select(Notification.id).where(
                Notification.incident_id == incident_id,
                Notification.expanded_at.is_not(None),
                or_(
                    Notification.state == NotificationState.pending.value,
                    Notification.state == NotificationState.sending.value,
                ),
            )
        )
    )


#: Set after a transaction that enqueued a message commits (wakes the delivery worker).
NOTIFICATION_ENQUEUED = CommitSignal("notification_enqueued")
wakeup = NOTIFICATION_ENQUEUED.subscribe
forget_wakeup = NOTIFICATION_ENQUEUED.unsubscribe
