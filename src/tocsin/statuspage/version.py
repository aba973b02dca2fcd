"""The public page's version: a counter every write to what the page shows moves.

A transaction that adds, changes or deletes a public incident, one of its updates or
links, a maintenance or one of its updates moves the ``status_page`` counter once
(an upsert, in the same transaction, so a rollback moves nothing). A server keeps the
front page it rendered until the counter moves (:func:`current`): every process on the
database sees the same counter, so no clock, and no host's clock, decides freshness.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction, object_session

from tocsin.db.counters import Counter
from tocsin.statuspage.models import (
    MaintenanceUpdate,
    ScheduledMaintenance,
    StatusIncident,
    StatusIncidentLink,
    StatusIncidentUpdate,
)

__all__ = ["COUNTER", "current"]

COUNTER = "status_page"

_WATCHED = (
    StatusIncident,
    StatusIncidentUpdate,
    StatusIncidentLink,
    ScheduledMaintenance,
    MaintenanceUpdate,
)

#: session.info key: the transactions that have moved the counter already.
_MOVED = "tocsin_status_page_moved"


def current(session: Session) -> int:
    """The counter as the session's transaction sees it (0 before any write)."""
    value = session.scalar(select(Counter.value).where(Counter.name == COUNTER))
    return int(value or 0)


def _bump(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, Counter.__table__)
    statement = insert(table).values(name=COUNTER, value=1)
    return statement.on_conflict_do_update(
        index_elements=[table.c.name], set_={"value": table.c.value + 1}
    )


_BUMPS = {dialect: _bump(dialect) for dialect in ("sqlite", "postgresql")}


def _moved(_mapper: Any, connection: Connection, row: object) -> None:
    """After a watched row is written: move the counter, once per transaction."""
    session = object_session(row)
    if session is None:
        return
    # A savepoint's own: if it rolls back, so does its move, and the next change moves
    # the counter again.
    transaction = session.get_nested_transaction() or session.get_transaction()
    moved: set[SessionTransaction] = session.info.setdefault(_MOVED, set())
    if transaction is None or transaction in moved:
        return
    connection.execute(_BUMPS[connection.dialect.name])
    moved.add(transaction)


# On the watched tables' own writes only: other flushes (alert intake's thousands of
# rows) pay nothing.
for _table in _WATCHED:
    for _write in ("after_insert", "after_update", "after_delete"):
        event.listen(_table, _write, _moved)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    moved: set[SessionTransaction] | None = session.info.get(_MOVED)
    if moved:
        moved.discard(transaction)
