"""Hot statements run on the database driver's cursor, compiled once per dialect.

Opening an incident writes about twenty small rows (timers, timeline entries, the page in
the outbox). Through SQLAlchemy's `Connection.execute` each costs about 90 µs of Python
before the database sees it, five times what SQLite needs to run it, so a webhook
opening a few hundred incidents spent most of its transaction — the writer lock every
page waits for — in that bookkeeping. A `DirectStatement` is compiled once per dialect
(SQL text, parameter order, the columns' bind processors) and then executes on the
driver's cursor of the session's connection: the same SQL, the same stored values, the
same transaction. Driver errors are raised as SQLAlchemy's, so the fault handling
(disk full, database gone → 503) sees what it sees everywhere else.

A plain INSERT built with ``copy=True`` goes to PostgreSQL as one ``COPY`` when it has
many rows (an alert storm's thousands of members and their links): a pipelined
``executemany`` still costs the driver about 0.1 ms of Python per row, ``COPY`` a few
microseconds. Its ids, when it returns them, are taken from the table's sequence first
(one query for the lot), so they still come back in the order of the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Insert
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["DirectStatement"]

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    positional: bool
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    returns: bool
    #: ``COPY table (columns) FROM STDIN`` and the bind names in its column order, for
    #: a plain INSERT built with ``copy=True`` (on PostgreSQL only).
    copy: tuple[str, str, tuple[str, ...]] | None = None


class DirectStatement:
    """One statement (built by `build(dialect_name)`), run with plain parameters."""

    def __init__(self, build: Callable[[str], ClauseElement], *, copy: bool = False) -> None:
        self._build = build
        self._copy = copy
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        statement = self._build(dialect.name)
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            processor: _Processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        names = tuple(compiled.positiontup or ())
        copy = self._copy and dialect.name == "postgresql"
        found = _Compiled(
            sql=compiled.string,
            names=names,
            positional=bool(names) or dialect.paramstyle in ("qmark", "numeric", "format"),
            defaults=dict(compiled.params),
            processors=processors,
            returns=bool(compiled.effective_returning),
            copy=_copy_of(statement, compiled) if copy else None,
        )
        self._compiled[dialect.name] = found
        return found

    def execute(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run in the session's transaction; the first row it returns, if any."""
        rows = self.execute_many(session, [params])
        return rows[0] if rows else None

    def fetch(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a query once in the session's transaction; every row, as the driver
        returns it (no result processing: for ids, counts and plain text). Like the
        session's own queries, it first writes what the session holds unwritten (unless
        autoflush is off): what this transaction added must be seen."""
        if session.autoflush:
            session.flush()
        connection = session.connection()
        compiled = self._compile(connection.dialect)
        argument = _arguments(compiled, params)
        cursor = _cursor(connection)
        try:
            cursor.execute(compiled.sql, argument)
            return [tuple(row) for row in cursor.fetchall()]
        except connection.dialect.loaded_dbapi.Error as error:
            raise _raised(connection, compiled, [argument], error, cursor) from error
        finally:
            cursor.close()

    def execute_many(
        self, session: Session, many: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Run once per parameter set, in order; the first row each run returned.

        PostgreSQL gets them in one pipelined `executemany` (a few round trips for
        the lot); SQLite, in process, runs them one after the other."""
        if not many:
            return []
        connection = session.connection()
        compiled = self._compile(connection.dialect)
        arguments = [_arguments(compiled, params) for params in many]
        cursor = _cursor(connection)
        found: list[tuple[Any, ...]] = []
        try:
            if compiled.copy is not None and len(arguments) >= COPY_FROM:
                found = _copy(cursor, compiled.copy, compiled.returns, arguments)
            elif connection.dialect.name == "postgresql" and len(arguments) > 1:
                returning = compiled.returns
                cursor.executemany(compiled.sql, arguments, returning=returning)
                while returning:
                    row = cursor.fetchone()
                    if row is not None:
                        found.append(tuple(row))
                    if not cursor.nextset():
                        break
            else:
                for argument in arguments:
                    cursor.execute(compiled.sql, argument)
                    if cursor.description:
                        row = cursor.fetchone()
                        if row is not None:
                            found.append(tuple(row))
        except connection.dialect.loaded_dbapi.Error as error:
            raise _raised(connection, compiled, arguments, error, cursor) from error
        finally:
            cursor.close()
        return found


def _raised(
    connection: Connection, compiled: _Compiled, arguments: list[Any], error: Any, cursor: Any
) -> exc.StatementError:
    """A driver's error as SQLAlchemy's (what the fault handling knows)."""
    raised: exc.StatementError = exc.DBAPIError.instance(
        compiled.sql,
        arguments[:1],
        error,
        connection.dialect.loaded_dbapi.Error,
        dialect=connection.dialect,
        connection_invalidated=connection.dialect.is_disconnect(error, None, cursor),
    )
    return raised


#: Rows from which a ``copy=True`` statement is one ``COPY`` (below, a pipelined
#: ``executemany`` has fewer round trips to wait for).
COPY_FROM = 32


def _copy_of(statement: ClauseElement, compiled: SQLCompiler) -> tuple[str, str, tuple[str, ...]]:
    """The ``COPY`` of a plain INSERT whose values are bind parameters named after their
    columns, returning nothing or the table's ``id``; anything else is a mistake."""
    if not isinstance(statement, Insert) or statement._post_values_clause is not None:
        raise TypeError("copy=True needs a plain INSERT")
    table = statement.table
    assert isinstance(table, Table)
    names = tuple(compiled.bind_names.values())
    if any(name not in table.c for name in names):
        raise TypeError("copy=True needs every value bound to a parameter named after its column")
    returning = [column.name for column in compiled.effective_returning or ()]
    if returning not in ([], ["id"]):
        raise TypeError("copy=True returns nothing or the id")
    columns = ("id", *names) if returning else names
    quoted = ", ".join(f'"{name}"' for name in columns)
    return f'COPY "{table.name}" ({quoted}) FROM STDIN', table.name, names


def _copy(
    cursor: Any, copy: tuple[str, str, tuple[str, ...]], returns: bool, arguments: list[Any]
) -> list[tuple[Any, ...]]:
    sql, table, names = copy
    ids: list[int] = []
    if returns:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, len(arguments)),
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    with cursor.copy(sql) as stream:
        for index, argument in enumerate(arguments):
            values = tuple(argument[name] for name in names)
            stream.write_row((ids[index], *values) if returns else values)
    return [(row_id,) for row_id in ids]


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    values = {**compiled.defaults, **params}
    for name, processor in compiled.processors.items():
        values[name] = processor(values[name])
    return tuple(values[name] for name in compiled.names) if compiled.positional else values


def _cursor(connection: Connection) -> Any:
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver.cursor()
