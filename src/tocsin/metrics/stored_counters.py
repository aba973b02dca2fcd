"""Counters kept in the database, added to in the transaction of the event they count.

A Prometheus counter must never go down, and every process serving ``/metrics``
(``tocsin serve --workers N``, several servers on one PostgreSQL) must tell the same
story. Counting in memory would give each process its own figures and count events
whose transaction later rolled back; counting here gives one figure per series that
moves exactly when the event commits.

- :func:`add` notes an amount in the session, in memory (no SQL: the alert intake
  calls it once per batch). The amounts noted inside a savepoint are forgotten if it
  rolls back, and all of them when the transaction does.
- Just before the transaction commits, everything noted is written with one
  ``INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded.value`` (a parameter
  set per series), after the session's own flush, with the rows in one fixed order
  (two transactions that count the same series lock its row in the same order, so
  they cannot deadlock).
- On PostgreSQL each series is spread over :data:`SHARDS` rows, one picked at random
  per transaction, so that concurrent transactions rarely wait on one another's
  counter row; :func:`totals` sums them. SQLite has one writer anyway: one row.

Rows are never deleted: a figure survives restarts (Prometheus accepts that a counter
stays where it was), and the table holds one row per series and shard, a few hundred.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Float, Integer, String, Table, bindparam, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from tocsin.db.base import Base

__all__ = ["SHARDS", "MetricCounter", "add", "labels_key", "totals"]

#: Rows per series on PostgreSQL (see the module's docstring).
SHARDS = 8

#: session.info key: {transaction: {(name, sorted label pairs): amount}}.
_NOTED = "tocsin_metric_counts"

_Key = tuple[str, tuple[tuple[str, str], ...]]


class MetricCounter(Base):
    """One series' total (or a part of it, see :data:`SHARDS`). ``labels`` is
    :func:`labels_key` of the series' labels; ``value`` a float, as in Prometheus."""

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    labels: Mapped[str] = mapped_column(String(1000), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float] = mapped_column(Float, nullable=False)


def labels_key(labels: Mapping[str, str]) -> str:
    """The stored form of a label set: JSON with the names in order."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def add(session: Session, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
    """Add ``amount`` to the series ``name{labels}`` when the session's transaction
    commits (nothing if it, or the savepoint this is noted in, rolls back)."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        session.connection()  # begins the transaction the amount belongs to
        transaction = session.get_transaction()
        assert transaction is not None
    noted: dict[SessionTransaction, dict[_Key, float]] = session.info.setdefault(_NOTED, {})
    amounts = noted.setdefault(transaction, {})
    key = (name, tuple(sorted(labels.items())))
    amounts[key] = amounts.get(key, 0.0) + amount


def totals(session: Session) -> dict[tuple[str, str], float]:
    """Every series' total by (name, labels key)."""
    table = MetricCounter
    rows = session.execute(
        select(table.name, table.labels, func.sum(table.value)).group_by(table.name, table.labels)
    )
    return {(name, labels): float(value or 0.0) for name, labels, value in rows}


# ---------------------------------------------------------------- the transaction's end


def _upsert(dialect: str) -> Any:
    """The statement for one row, built (and compiled) once per dialect; the rows of a
    transaction go as its parameter sets."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, MetricCounter.__table__)
    statement = insert(table).values(
        name=bindparam("name"),
        labels=bindparam("labels"),
        shard=bindparam("shard"),
        value=bindparam("value"),
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.name, table.c.labels, table.c.shard],
        set_={"value": table.c.value + statement.excluded.value},
    )


_UPSERTS = {dialect: _upsert(dialect) for dialect in ("sqlite", "postgresql")}


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    noted: dict[SessionTransaction, dict[_Key, float]] | None = session.info.get(_NOTED)
    if not noted:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint is released: what it noted now stands or falls with its parent.
        released = noted.pop(nested, None)
        if released and nested.parent is not None:
            into = noted.setdefault(nested.parent, {})
            for key, amount in released.items():
                into[key] = into.get(key, 0.0) + amount
        return
    summed: dict[_Key, float] = {}
    for amounts in noted.values():
        for key, amount in amounts.items():
            summed[key] = summed.get(key, 0.0) + amount
    noted.clear()
    if not summed:
        return
    session.flush()  # the row locks of the transaction's own changes come first
    connection = session.connection()
    dialect = connection.dialect.name
    shard = random.randrange(SHARDS) if dialect == "postgresql" else 0
    rows = sorted(
        (
            {"name": name, "labels": labels_key(dict(pairs)), "shard": shard, "value": amount}
            for (name, pairs), amount in summed.items()
        ),
        key=lambda row: (row["name"], row["labels"]),
    )
    connection.execute(_UPSERTS[dialect], rows)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    noted: dict[SessionTransaction, dict[_Key, float]] | None = session.info.get(_NOTED)
    if not noted:
        return
    if previous_transaction.nested:
        noted.pop(previous_transaction, None)
    else:
        noted.clear()
