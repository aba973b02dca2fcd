"""Lanes: whose turn it is when more work is due than one transaction does.

On the worst day one cause opens hundreds of incidents at once (a storm the storm rule
does not collapse, a partition across many services), and each sets timers, queues
pages and sends them. Claimed oldest first, that backlog would make the page of an
unrelated incident declared a second later wait until every one of them was done.

So every timer (:mod:`tocsin.db.jobs`), message and send (:mod:`tocsin.notify`) carries
the *lane* of the incident it is for (:func:`tocsin.incidents.rules.incident_lane`:
the service whose alerts opened it, or "people" for an incident a person declared;
"" for work of no incident), and work is claimed in turns: the oldest due item of
every lane first, then the second of every lane, and so on (oldest first within a
turn). A flood in one lane then delays another lane's page by at most one item of
each busy lane, however deep the flood.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, func, inspect, select
from sqlalchemy.orm import Session

__all__ = ["claim_in_turns"]

_Row = TypeVar("_Row")


def claim_in_turns(
    session: Session,
    model: type[_Row],
    where: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[_Row]:
    """Up to ``limit`` rows of ``model`` (a table with ``id``, ``due_at`` and ``lane``)
    matching ``where``, in turns across lanes, locked for the caller's transaction.

    On PostgreSQL the rows are locked with ``SKIP LOCKED``; rows another worker holds
    are made up for with the next ones oldest first, so that two workers never wait
    for each other nor both take nothing. On SQLite the caller's write transaction
    already excludes every other writer.
    """
    mapper = inspect(model)
    table = cast(Table, mapper.local_table)
    turn = func.row_number().over(partition_by=table.c.lane, order_by=(table.c.due_at, table.c.id))
    ranked = select(table.c.id, table.c.due_at, turn.label("turn")).where(*where).subquery()
    order = select(ranked.c.id).order_by(ranked.c.turn, ranked.c.due_at, ranked.c.id).limit(limit)
    ids = list(session.connection().execute(order).scalars())
    if not ids:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    # The conditions again: on PostgreSQL a row another worker finished since the turns
    # were read is checked anew once its lock is free, and must no longer qualify.
    query: Any = select(model).where(table.c.id.in_(ids), *where)
    if postgres:
        query = query.with_for_update(skip_locked=True)
    found = {mapper.primary_key_from_instance(row)[0]: row for row in session.scalars(query)}
    claimed = [found[i] for i in ids if i in found]
    if postgres and len(claimed) < len(ids):
        more = (
            select(model)
            .where(*where, table.c.id.not_in(ids))
            .order_by(table.c.due_at, table.c.id)
            .limit(limit - len(claimed))
            .with_for_update(skip_locked=True)
        )
        claimed.extend(session.scalars(more))
    return claimed
