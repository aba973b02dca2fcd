"""Stored silences: add, list, expire, and the active ones as the pipeline sees them.

A silence is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive) unless
someone expired it early (``expired_at``). Expiring an active silence also moves its
end to that moment, so that its stored window tells the truth afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import SilenceRead, SilenceRecord
from tocsin.alerts.rules import InvalidSilence, MatcherError, Silence, SilenceState, parse_matcher
from tocsin.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "SILENCE_STATES",
    "SilenceFilter",
    "active_silences",
    "add_silence",
    "expire_silence",
    "get_silence",
    "list_silences",
    "silence_state",
    "silence_to_read",
]

SilenceFilter = Literal["active", "pending", "expired", "all"]
SILENCE_STATES: tuple[str, ...] = ("active", "pending", "expired", "all")
_MAX_MATCHERS = 50
_MAX_COMMENT = 2000
_MAX_AUTHOR = 100


def add_silence(
    *,
    session: Session,
    matchers: Sequence[str],
    starts_at: datetime | None,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> SilenceRecord:
    """Store a silence; ``starts_at`` None means now. Matchers are stored in their
    canonical form (``service="checkout"``). Raises :class:`InvalidInput` naming the
    field (``matchers[2]``, ``ends_at``)."""
    if not matchers:
        raise InvalidInput("matchers", "at least one matcher is needed")
    if len(matchers) > _MAX_MATCHERS:
        raise InvalidInput("matchers", f"at most {_MAX_MATCHERS} matchers")
    parsed = []
    for index, text in enumerate(matchers):
        field = f"matchers[{index}]"
        if not isinstance(text, str) or "\x00" in text:
            raise InvalidInput(field, "must be a string without NUL characters")
        try:
            parsed.append(parse_matcher(text))
        except MatcherError as exc:
            raise InvalidInput(field, str(exc)) from None
    start = starts_at if starts_at is not None else now
    for field, value in (("starts_at", start), ("ends_at", ends_at)):
        if value.tzinfo is None:
            raise InvalidInput(field, "must include a time zone offset")
    if ends_at <= now:
        raise InvalidInput("ends_at", "is in the past; a silence must end in the future")
    if ends_at <= start:
        raise InvalidInput("ends_at", "must be after starts_at")
    if len(comment) > _MAX_COMMENT or "\x00" in comment:
        raise InvalidInput("comment", f"at most {_MAX_COMMENT} characters, no NUL")
    if not created_by or len(created_by) > _MAX_AUTHOR:
        raise InvalidInput("created_by", f"1 to {_MAX_AUTHOR} characters")
    try:
        Silence(tuple(parsed), start, ends_at, created_by, comment)
    except InvalidSilence as exc:
        raise InvalidInput("matchers", str(exc)) from None
    record = SilenceRecord(
        matchers=[str(m) for m in parsed],
        starts_at=start,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _state_filter(state: str, now: datetime) -> ColumnElement[bool] | None:
    live = SilenceRecord.expired_at.is_(None)
    if state == "active":
        return and_(live, SilenceRecord.starts_at <= now, SilenceRecord.ends_at > now)
    if state == "pending":
        return and_(live, SilenceRecord.starts_at > now)
    if state == "expired":
        return or_(SilenceRecord.expired_at.is_not(None), SilenceRecord.ends_at <= now)
    if state == "all":
        return None
    raise InvalidInput("state", f"unknown state {state!r}; use one of {', '.join(SILENCE_STATES)}")


def list_silences(*, session: Session, state: str = "active", now: datetime) -> list[SilenceRecord]:
    """Silences in ``state`` (active, pending, expired or all), newest first."""
    query = select(SilenceRecord)
    condition = _state_filter(state, now)
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(query.order_by(SilenceRecord.id.desc())))


def get_silence(*, session: Session, silence_id: int) -> SilenceRecord:
    record = session.get(SilenceRecord, silence_id)
    if record is None:
        raise NotFound(f"silence {silence_id} not found")
    return record


def expire_silence(*, session: Session, silence_id: int, now: datetime) -> SilenceRecord:
    """End a silence now (a pending one never starts). Conflict if already expired."""
    record = get_silence(session=session, silence_id=silence_id)
    if silence_state(record, now) is SilenceState.expired:
        raise Conflict(f"silence {silence_id} has already expired")
    record.expired_at = now
    if record.starts_at <= now:
        record.ends_at = now
    return record


def silence_state(record: SilenceRecord, now: datetime) -> SilenceState:
    if record.expired_at is not None or now >= record.ends_at:
        return SilenceState.expired
    if now < record.starts_at:
        return SilenceState.pending
    return SilenceState.active


def active_silences(*, session: Session, now: datetime) -> list[Silence]:
    """The silences muting alerts at ``now``, as pure :class:`Silence` objects (id set)."""
    rows = session.scalars(
        select(SilenceRecord)
        .where(
            SilenceRecord.expired_at.is_(None),
            SilenceRecord.starts_at <= now,
            SilenceRecord.ends_at > now,
        )
        .order_by(SilenceRecord.id)
    )
    silences = []
    for row in rows:
        try:
            matchers = tuple(parse_matcher(text) for text in row.matchers)
            silences.append(
                Silence(
                    matchers, row.starts_at, row.ends_at, row.created_by, row.comment, str(row.id)
                )
            )
        except (MatcherError, InvalidSilence):  # stored rows were checked; never mute on doubt
            continue
    return silences


def silence_to_read(record: SilenceRecord, now: datetime) -> SilenceRead:
    return SilenceRead(
        id=record.id,
        matchers=list(record.matchers),
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        created_by=record.created_by,
        comment=record.comment,
        created_at=record.created_at,
        expired_at=record.expired_at,
        state=silence_state(record, now).value,
    )
