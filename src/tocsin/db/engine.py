"""Engine creation: SQLite in WAL mode with one writer at a time, or PostgreSQL."""

from __future__ import annotations

import json
import select
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

__all__ = [
    "POOL_OVERFLOW",
    "POOL_SIZE",
    "WRITE_OPTION",
    "create_db_engine",
    "is_postgres",
    "is_sqlite",
]

#: Connection execution option that marks a transaction that will write.
#: On SQLite such a transaction starts with BEGIN IMMEDIATE, so two writers queue on the
#: busy timeout instead of failing with "database is locked" when both upgrade their locks.
WRITE_OPTION = "tocsin_write"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def json_text(value: Any) -> str:
    """A JSON column's value as text, with orjson (several times quicker than the
    standard library, which SQLAlchemy would use); the standard library takes what
    orjson refuses (integers beyond 64 bits, odd key types) and decides."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value)


#: Connections a process keeps open to PostgreSQL, and how many more it may open at a
#: peak (SQLite's pool is twice as large: its connections cost no server process).
#: Room for :data:`tocsin.web.deps.READ_SESSIONS` read requests, the write transaction
#: of the moment, the engine worker, the delivery worker, the runbook runner, the alert
#: lanes and the dashboards' event streams; several processes on one PostgreSQL stay
#: within its default of 100 connections at rest.
POOL_SIZE = 10
POOL_OVERFLOW = 10


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_text)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _alive_on_checkout(engine))
    return engine


def _alive_on_checkout(engine: Engine) -> Any:
    """A pooled PostgreSQL connection is checked before each use, without a round trip
    while it is quiet.

    A connection resting in the pool is sent nothing by the server, unless the server
    is ending it: a restart or ``pg_terminate_backend`` sends an error and closes the
    socket. So the socket is asked whether anything is waiting to be read (a system
    call, under a microsecond); only then is the connection pinged with a round trip,
    and replaced if that fails. SQLAlchemy's ``pool_pre_ping`` made that round trip at
    every checkout: one in every seven or eight of a declared incident's round trips,
    and one more for every API request. A connection whose peer vanished without a
    word (a host gone, a dropped route) is caught by neither; its first statement
    fails, and SQLAlchemy then replaces every connection of the pool.
    """
    dialect = engine.dialect

    def check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.closed or dbapi_connection.broken:
            raise DisconnectionError("the connection was closed")
        try:
            socket = dbapi_connection.pgconn.socket
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc
        poller = select.poll()
        poller.register(socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        if not poller.poll(0):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc

    return check


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Connections are kept, not reopened: a new SQLite connection parses the whole schema
    # again on its first query, and 16 concurrent readers would overflow the default pool
    # of 5 and pay that on most requests.
    kwargs.setdefault("pool_size", POOL_SIZE * 2)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW * 2)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", 30)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
