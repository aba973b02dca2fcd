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

The workers claim many times a second under load, so a :class:`Turns` builds its
statements once (the conditions carry bound parameters, given at each claim): building
and keying them anew took more of a claim than the database did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, inspect, select
from sqlalchemy.orm import Session

from tocsin.db.direct import DirectStatement

__all__ = ["Turns"]

_Row = TypeVar("_Row")


class Turns(Generic[_Row]):
    """Claims rows of ``model`` (a table with ``id``, ``due_at`` and ``lane``) matching
    ``where``, whose values are bound parameters (``bindparam("now")``, say)."""

    def __init__(self, model: type[_Row], where: Sequence[ColumnElement[bool]]) -> None:
        mapper = inspect(model)
        table = cast(Table, mapper.local_table)
        self._key = mapper.primary_key_from_instance
        turn = func.row_number().over(
            partition_by=table.c.lane, order_by=(table.c.due_at, table.c.id)
        )
        ranked = select(table.c.id, table.c.due_at, turn.label("turn")).where(*where).subquery()
        self._order = DirectStatement(
            lambda _dialect: (
                select(ranked.c.id)
                .order_by(ranked.c.turn, ranked.c.due_at, ranked.c.id)
                .limit(bindparam("limit"))
            )
        )
        ids: Any = bindparam("ids", expanding=True)
        # The conditions again: on PostgreSQL a row another worker finished since the
        # turns were read is checked anew once its lock is free, and must no longer
        # qualify.
        chosen = select(model).where(table.c.id.in_(ids), *where)
        self._chosen = chosen
        self._chosen_locked = chosen.with_for_update(skip_locked=True)
        self._more = (
            select(model)
            .where(*where, table.c.id.not_in(bindparam("taken", expanding=True)))
            .order_by(table.c.due_at, table.c.id)
            .limit(bindparam("more"))
            .with_for_update(skip_locked=True)
        )

    def claim(self, session: Session, limit: int, **params: Any) -> list[_Row]:
        """Up to ``limit`` rows in turns across lanes, locked for the caller's
        transaction; ``params`` are the conditions' values.

        On PostgreSQL the rows are locked with ``SKIP LOCKED``; rows another worker
        holds are made up for with the next ones oldest first, so that two workers never
        wait for each other nor both take nothing. On SQLite the caller's write
        transaction already excludes every other writer.
        """
        ids = [row[0] for row in self._order.fetch(session, {**params, "limit": limit})]
        if not ids:
            return []
        postgres = session.get_bind().dialect.name == "postgresql"
        query = self._chosen_locked if postgres else self._chosen
        rows = session.scalars(query, {**params, "ids": ids})
        found = {self._key(row)[0]: row for row in rows}
        claimed = [found[i] for i in ids if i in found]
        if postgres and len(claimed) < len(ids):
            more = {**params, "taken": ids, "more": limit - len(claimed)}
            claimed.extend(session.scalars(self._more, more))
        return claimed
