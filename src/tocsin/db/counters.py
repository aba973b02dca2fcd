"""Gap-free human numbers (INC-1, INC-2, ...) shared by every process using the database."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Integer, String, Table, bindparam, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ClauseElement

from tocsin.db.base import Base
from tocsin.db.direct import DirectStatement

__all__ = ["Counter", "next_number"]


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def _increment(_dialect: str) -> ClauseElement:
    table = cast(Table, Counter.__table__)
    return (
        update(table)
        .where(table.c.name == bindparam("counter"))
        .values(value=table.c.value + 1)
        .returning(table.c.value)
    )


_INCREMENT = DirectStatement(_increment)


def next_number(session: Session, name: str) -> int:
    """Increment and return the named counter inside the caller's transaction.

    The UPDATE takes a row lock (PostgreSQL) or the write lock (SQLite), so concurrent
    callers are serialised and a rolled-back transaction gives its number back.
    """
    # On the connection: a counter needs nothing of the session flushed first.
    row = _INCREMENT.execute(session, {"counter": name})
    if row is None:
        session.add(Counter(name=name, value=1))
        session.flush()
        return 1
    return int(row[0])
