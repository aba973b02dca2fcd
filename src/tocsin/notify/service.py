"""Writing to and reading the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db.direct import DirectStatement
from tocsin.notify import outbox
from tocsin.notify.models import Delivery, Notification, NotificationKind, NotificationState
from tocsin.notify.observers import OBSERVERS
from tocsin.pagination import paginate

__all__ = ["cancel_pending", "enqueue", "list_notifications"]

#: The channel of a message whose delivery route is decided at delivery time from the
#: person's notification rules.
PERSON_CHANNEL = "person"


def enqueue(
    *,
    session: Session,
    key: str,
    person: str,
    kind: NotificationKind,
    subject: str,
    body: str,
    reason: str,
    now: datetime,
    incident_id: int | None = None,
    channel: str = PERSON_CHANNEL,
    data: dict[str, Any] | None = None,
    lane: str = "",
) -> bool:
    """Queue one message; False if a message with this idempotency key already exists.
    ``lane``: the lane of the incident it is about (:mod:`tocsin.db.lanes`).

    Written on the session's connection with a statement built once per dialect: a
    message needs nothing of the session flushed first, and an incident queues several.
    """
    params = {
        "key": key,
        "incident_id": incident_id,
        "person": person,
        "kind": kind.value,
        "channel": channel,
        "subject": subject[:300],
        "body": body,
        "reason": reason,
        "data": data or {},
        "now": now,
        "lane": lane,
    }
    created = _INSERT.execute(session, params) is not None
    if created:
        outbox.NOTIFICATION_ENQUEUED.raise_in(session)  # wakes the delivery worker
        OBSERVERS.queued(session=session, kind=kind.value, channel=channel)
    return created


def _insert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, Notification.__table__)
    now = bindparam("now", type_=table.c.created_at.type)
    return (
        insert(table)
        .values(
            key=bindparam("key"),
            incident_id=bindparam("incident_id"),
            person=bindparam("person"),
            kind=bindparam("kind"),
            channel=bindparam("channel"),
            subject=bindparam("subject"),
            body=bindparam("body"),
            reason=bindparam("reason"),
            data=bindparam("data", type_=table.c.data.type),
            state=NotificationState.pending.value,
            attempts=0,
            due_at=now,
            created_at=now,
            lane=bindparam("lane"),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )


_INSERT = DirectStatement(_insert)


def list_notifications(
    *,
    session: Session,
    incident_id: int | None = None,
    states: Sequence[str] = (),
    channels: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Notification], int]:
    """Messages, oldest first; with ``channels``, only the ones with a delivery on one of
    them (or queued for one of them, a broadcast)."""
    query = select(Notification)
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
    if states:
        query = query.where(Notification.state.in_(list(states)))
    if channels:
        on_channel = select(Delivery.notification_id).where(Delivery.channel.in_(list(channels)))
        query = query.where(
            or_(Notification.channel.in_(list(channels)), Notification.id.in_(on_channel))
        )
    return paginate(
        session=session, query=query.order_by(Notification.id), limit=limit, offset=offset
    )


def cancel_pending(*, session: Session, incident_id: int, kinds: Sequence[NotificationKind]) -> int:
    """Drop messages not yet sent that an acknowledgement or resolution made moot.

    Messages not yet split into deliveries are cancelled whole; of the others, every
    delivery still waiting (a delayed step, a retry, a throttled one) is cancelled, and
    the message's state follows (sent if one of its deliveries already went out).
    """
    names = [k.value for k in kinds]
    stmt = (
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.state == NotificationState.pending.value,
            Notification.kind.in_(names),
            Notification.expanded_at.is_(None),
        )
        .values(state=NotificationState.cancelled.value, sent_at=None, last_error=None)
    )
    count = int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    touched = outbox.cancel_deliveries(
        session=session, incident_id=incident_id, kinds=names, reason="cancelled: no longer needed"
    )
    for notification_id in touched:
        before = session.get(Notification, notification_id)
        was = before.state if before is not None else None
        after = outbox.refresh_notification(session=session, notification_id=notification_id)
        if after is not None and after.state != was and after.state == "cancelled":
            count += 1
    return count
