"""The inbox of large webhook bodies: stored at once, decided a chunk at a time.

Deciding thousands of new alerts takes far longer than storing them, and on SQLite a
write transaction holds every other writer (pages, escalations, a person's
acknowledge) until it ends. A body with more than :data:`INBOX_THRESHOLD` alerts is
therefore stored as it came (:func:`queue_batch`, one short transaction) and the
request answered; :func:`take_chunk` then hands out the next alerts of
the oldest unfinished body, and the caller decides them with
:func:`tocsin.alerts.pipeline.ingest` in the same transaction that moves ``done`` on
(:func:`chunk_done`). A crash loses nothing that was answered and decides nothing
twice: ``done`` commits together with the chunk's effects.

While an integration has unfinished bodies, its small requests queue behind them too,
so that its alerts are decided in the order they arrived (a resolve never overtakes
the firing it resolves).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased, defer

from tocsin.alerts.bulk_models import InboxBatch
from tocsin.alerts.models import Integration
from tocsin.db.signals import CommitSignal

__all__ = [
    "INBOX_QUEUED",
    "INBOX_THRESHOLD",
    "Backlog",
    "Chunk",
    "backlog",
    "chunk_done",
    "queue_batch",
    "queued_integrations",
    "take_chunk",
]

#: Bodies with more alerts than this are queued rather than decided in the request.
INBOX_THRESHOLD = 300
#: Set after a transaction that queued a body commits.
INBOX_QUEUED = CommitSignal("inbox_queued")


@dataclass(frozen=True)
class Chunk:
    """Alerts ``start`` to ``end`` (exclusive) of a queued body, locked for the caller's
    transaction."""

    batch: InboxBatch
    integration: Integration
    start: int
    end: int


def queue_batch(
    *,
    session: Session,
    integration: Integration,
    source: str,
    body: Any,
    total: int,
    now: datetime,
) -> InboxBatch:
    """Store a body (already checked by its parser) to be decided later."""
    batch = InboxBatch(
        integration_id=integration.id,
        source=source,
        body=body,
        total=total,
        done=0,
        received_at=now,
    )
    session.add(batch)
    session.flush()
    INBOX_QUEUED.raise_in(session)
    return batch


#: Built once: asked by every group commit, so it must cost next to nothing.
_ANY_WAITING = (
    select(InboxBatch.__table__.c.integration_id)
    .where(InboxBatch.__table__.c.finished_at.is_(None))
    .distinct()
)


def queued_integrations(*, session: Session, integration_ids: Iterable[int]) -> set[int]:
    """Which of these integrations have bodies waiting (their requests queue behind).
    One indexed read of the (nearly always empty) unfinished part of the inbox."""
    waiting = set(session.connection().execute(_ANY_WAITING).scalars())
    return waiting & set(integration_ids) if waiting else waiting


@dataclass(frozen=True)
class Backlog:
    """Alerts answered and stored, not decided yet."""

    alerts: int
    #: When the oldest body with alerts left arrived (None: nothing waits).
    oldest: datetime | None


_BACKLOG = select(
    func.coalesce(func.sum(InboxBatch.total - InboxBatch.done), 0),
    func.min(InboxBatch.received_at),
).where(InboxBatch.__table__.c.finished_at.is_(None))


def backlog(*, session: Session) -> Backlog:
    """The unfinished part of the inbox, in one indexed read (it is nearly always empty)."""
    alerts, oldest = session.execute(_BACKLOG).one()
    return Backlog(int(alerts), oldest)


def take_chunk(*, session: Session, size: int) -> Chunk | None:
    """The next ``size`` alerts (at most) of the oldest unfinished body, or None when
    all are done.

    Inside a write transaction: on PostgreSQL the body's row is locked and other
    processes skip it, and the later bodies of its integration; on SQLite the
    transaction is the only writer. Either way ``done`` is read under the lock, so two
    drainers never decide the same alerts, nor one integration's alerts out of order.
    """
    older = aliased(InboxBatch)
    query = (
        select(InboxBatch)
        .options(defer(InboxBatch.body))  # read only when its events are not in memory
        .where(
            InboxBatch.finished_at.is_(None),
            # The oldest unfinished body of its integration only: while another process
            # decides one, the integration's later bodies wait for it (order).
            ~exists().where(
                older.integration_id == InboxBatch.integration_id,
                older.finished_at.is_(None),
                older.id < InboxBatch.id,
            ),
        )
        .order_by(InboxBatch.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=InboxBatch)
    batch = session.scalar(query)
    if batch is None:
        return None
    integration = session.get(Integration, batch.integration_id)
    if integration is None:  # pragma: no cover - the foreign key cascades
        return None
    return Chunk(batch, integration, batch.done, min(batch.total, batch.done + size))


def chunk_done(*, session: Session, chunk: Chunk, now: datetime) -> None:
    """Record the chunk as decided (in the transaction that decided it)."""
    batch = chunk.batch
    batch.done = chunk.end
    if batch.done >= batch.total:
        batch.finished_at = now
        batch.body = None  # decided: the alerts themselves are stored now
