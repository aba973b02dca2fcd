"""Durable timers: the jobs table, written inside the caller's transaction.

Any service sets a timer with `schedule(session=session, ...)` in the same transaction as the
state change that needs it, so a rolled-back change leaves no timer behind and a
committed one is never lost. Workers claim due jobs (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite has a single writer) and complete each in the transaction that
applies its effects. The key makes scheduling idempotent: a second `schedule` with the
same key is ignored.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.db.direct import DirectStatement
from tocsin.db.lanes import Turns
from tocsin.db.signals import CommitSignal

__all__ = [
    "Job",
    "JobState",
    "cancel_jobs",
    "lock_due",
    "next_due_at",
    "pending_jobs",
    "purge_finished",
    "schedule",
    "wakeup",
]


class JobState:
    pending = "pending"
    done = "done"
    cancelled = "cancelled"
    failed = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_due", "state", "due_at"),
        CheckConstraint("state IN ('pending', 'done', 'cancelled', 'failed')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(300), unique=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    state: Mapped[str] = mapped_column(String(10), default=JobState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Whose turn it is (see :mod:`tocsin.db.lanes`): the incident's lane, or "" for none.
    lane: Mapped[str] = mapped_column(String(100), default="", server_default="")


def _upsert(dialect: str) -> Any:
    """The scheduling statement, built once per dialect (building and compiling it for
    every timer cost more than running it: an incident sets half a dozen)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, Job.__table__)
    statement = insert(table).values(
        kind=bindparam("kind"),
        key=bindparam("key"),
        due_at=bindparam("due_at", type_=table.c.due_at.type),
        payload=bindparam("payload", type_=table.c.payload.type),
        state=JobState.pending,
        attempts=0,
        created_at=bindparam("created_at", type_=table.c.created_at.type),
        lane=bindparam("lane"),
    )
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "state": JobState.pending,
            "due_at": excluded.due_at,
            "payload": excluded.payload,
            "lane": excluded.lane,
            "attempts": 0,
            "claimed_by": None,
            "claimed_until": None,
            "finished_at": None,
            "last_error": None,
        },
        where=table.c.state == JobState.cancelled,
    ).returning(table.c.id)


_UPSERT = DirectStatement(_upsert)


def schedule(
    *,
    session: Session,
    kind: str,
    due_at: datetime,
    payload: dict[str, Any],
    key: str,
    now: datetime,
    lane: str = "",
) -> bool:
    """Set a timer; returns False when a job with this key is already pending or done.
    ``lane``: the lane of the incident it is for (:mod:`tocsin.db.lanes`).

    A cancelled job with the key is set again: scheduling it is a new decision. The
    row is written on the session's connection directly: a timer needs nothing else
    of the session flushed first.
    """
    params = {
        "kind": kind,
        "key": key,
        "due_at": due_at,
        "payload": payload,
        "created_at": now,
        "lane": lane,
    }
    created = _UPSERT.execute(session, params) is not None
    if created:
        JOB_SCHEDULED.raise_in(session)
    return created


def cancel_jobs(
    *, session: Session, key_prefix: str, now: datetime, kinds: tuple[str, ...] = ()
) -> int:
    """Cancel pending jobs whose key starts with `key_prefix` (optionally of some kinds).

    Run on the session's connection (nothing needs flushing first); a job the session
    holds keeps its loaded state, which the worker overwrites when it finishes it."""
    table = cast(Table, Job.__table__)
    stmt = (
        update(table)
        .where(
            table.c.state == JobState.pending,
            table.c.key.startswith(key_prefix, autoescape=True),
        )
        .values(state=JobState.cancelled, finished_at=now)
    )
    if kinds:
        stmt = stmt.where(table.c.kind.in_(kinds))
    return int(session.connection().execute(stmt).rowcount)


def pending_jobs(*, session: Session, key_prefix: str) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.state == JobState.pending, Job.key.startswith(key_prefix, autoescape=True))
            .order_by(Job.due_at, Job.id)
        )
    )


def lock_due(*, session: Session, now: datetime, limit: int) -> list[Job]:
    """Up to `limit` due jobs, locked until the caller's transaction ends.

    On PostgreSQL other workers skip the locked rows (`SKIP LOCKED`) and take the next
    ones; on SQLite the caller's write transaction already excludes other writers. A
    worker that dies before committing releases its rows at once: nothing is lost and
    nothing waits for a lease to run out. Jobs are taken in turns across lanes
    (:mod:`tocsin.db.lanes`): a flood of one incident's kind cannot hold another's.
    """
    return _due_jobs().claim(session, limit, now=now)


@functools.cache
def _due_jobs() -> Turns[Job]:
    return Turns(Job, (Job.state == JobState.pending, Job.due_at <= bindparam("now")))


def purge_finished(*, session: Session, before: datetime) -> int:
    """Delete jobs that finished before `before` (self-rescheduling timers add up)."""
    stmt = delete(Job).where(Job.state != JobState.pending, Job.finished_at < before)
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def next_due_at(*, session: Session) -> datetime | None:
    return session.scalar(_next_due())


@functools.cache
def _next_due() -> Select[datetime]:
    """Built once: the engine asks before every batch."""
    return select(Job.due_at).where(Job.state == JobState.pending).order_by(Job.due_at).limit(1)


#: Set after a transaction that scheduled a job commits (wakes this process's worker).
JOB_SCHEDULED = CommitSignal("job_scheduled")
wakeup = JOB_SCHEDULED.subscribe
forget_wakeup = JOB_SCHEDULED.unsubscribe
