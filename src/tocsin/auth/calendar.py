"""Calendar subscriptions: the credential in a calendar feed's URL.

A calendar service (Google, Apple, Outlook) fetches a subscribed feed by its URL alone,
and such URLs get pasted, synced and shared. So the URL carries its own token, made for
one user and one schedule: it opens that schedule's ``.ics`` feed and nothing else, and
an API token does not open a feed at all. A user has at most one live subscription per
schedule; subscribing again replaces it (the old URL stops working), and either the
user or an admin can revoke it. Only the token's SHA-256 is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from tocsin.auth.models import CalendarSubscription
from tocsin.auth.rules import CALENDAR_TOKEN_PREFIX, hash_token, new_calendar_token

__all__ = [
    "Subscribed",
    "feed_schedule",
    "list_subscriptions",
    "revoke_subscriptions",
    "subscribe",
]

#: How much of a token is kept to tell subscriptions apart (the prefix and 4 more).
_SHOWN = len(CALENDAR_TOKEN_PREFIX) + 4
#: Anything much longer than a token is not one; it is not hashed.
_MAX_TOKEN = 100


@dataclass(frozen=True)
class Subscribed:
    """A new subscription, its token (shown once), and how many it replaced."""

    subscription: CalendarSubscription
    token: str
    replaced: int


def _live() -> list[ColumnElement[bool]]:
    return [CalendarSubscription.revoked_at.is_(None)]


def subscribe(
    *, session: Session, schedule: str, owner: str, created_by: str, now: datetime
) -> Subscribed:
    """A new subscription of ``owner`` to ``schedule``, replacing the live one, if any."""
    replaced = revoke_subscriptions(session=session, owner=owner, schedule=schedule, now=now)
    token = new_calendar_token()
    row = CalendarSubscription(
        schedule=schedule,
        owner=owner,
        token_hash=hash_token(token),
        token_prefix=token[:_SHOWN],
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return Subscribed(row, token, replaced)


def feed_schedule(*, session: Session, token: str) -> str | None:
    """The schedule whose feed ``token`` opens; None for anything else (an unknown or
    revoked token, an API token, an integration key)."""
    if not token.startswith(CALENDAR_TOKEN_PREFIX) or len(token) > _MAX_TOKEN:
        return None
    return session.scalar(
        select(CalendarSubscription.schedule).where(
            CalendarSubscription.token_hash == hash_token(token), *_live()
        )
    )


def list_subscriptions(
    *, session: Session, owner: str | None = None, schedule: str | None = None
) -> list[CalendarSubscription]:
    """The live subscriptions (of ``owner``, to ``schedule``), oldest first."""
    query = select(CalendarSubscription).where(*_live())
    if owner is not None:
        query = query.where(CalendarSubscription.owner == owner)
    if schedule is not None:
        query = query.where(CalendarSubscription.schedule == schedule)
    return list(session.scalars(query.order_by(CalendarSubscription.id)))


def revoke_subscriptions(
    *,
    session: Session,
    now: datetime,
    subscription_id: int | None = None,
    owner: str | None = None,
    schedule: str | None = None,
) -> int:
    """Revoke the live subscriptions matching every criterion given; how many."""
    where = _live()
    if subscription_id is not None:
        where.append(CalendarSubscription.id == subscription_id)
    if owner is not None:
        where.append(CalendarSubscription.owner == owner)
    if schedule is not None:
        where.append(CalendarSubscription.schedule == schedule)
    if len(where) == 1:
        raise ValueError("revoking needs an id, an owner or a schedule")
    result = session.execute(update(CalendarSubscription).where(*where).values(revoked_at=now))
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count
