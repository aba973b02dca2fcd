"""Which database errors are faults (503, and the sentence saying which) and which are
not (the client's input, or a bug): errors raised by the real drivers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tocsin.db import create_db_engine
from tocsin.web.errors import database_fault


def _raised(engine_url: str, statement: str, **kwargs: object) -> SQLAlchemyError:
    engine = create_db_engine(engine_url, **kwargs)
    try:
        with engine.connect() as conn, pytest.raises(SQLAlchemyError) as caught:
            conn.execute(text(statement))
        return caught.value
    finally:
        engine.dispose()


def test_sqlite_faults_and_bugs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert database_fault(_raised(url, "SELECT * FROM missing")) is None  # a bug: 500
    assert database_fault(_raised(url, "SELEC 1")) is None
    with sqlite3.connect(tmp_path / "x.db") as raw:
        raw.execute("CREATE TABLE t (x)")
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA query_only = ON")
            with pytest.raises(OperationalError) as read_only:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        engine.dispose()
    assert database_fault(read_only.value) == "the database is read-only"
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert database_fault(locked) == "the database is busy"
    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    assert database_fault(full) == "the database disk is full"
    gone = OperationalError("x", {}, sqlite3.OperationalError("unable to open database file"))
    assert database_fault(gone) == "the database cannot be reached"


def test_a_pool_that_stays_exhausted_is_busy(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'p.db'}", pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    try:
        with engine.connect(), pytest.raises(PoolTimeout) as caught, engine.connect():
            pass
    finally:
        engine.dispose()
    assert database_fault(caught.value) == "the database is busy"


def test_a_refused_connection_cannot_be_reached() -> None:
    with pytest.raises(OperationalError) as caught:
        create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none").connect()
    assert database_fault(caught.value) == "the database cannot be reached"


@pytest.mark.postgres
def test_postgres_read_only_and_client_errors(postgres_url: str) -> None:
    read_only = _raised(
        postgres_url,
        "CREATE TABLE t (x int)",
        connect_args={"options": "-c default_transaction_read_only=on"},
    )
    assert database_fault(read_only) == "the database is read-only"
    out_of_range = _raised(postgres_url, "SELECT 2147483648::int4")
    assert isinstance(out_of_range, DataError)
    assert database_fault(out_of_range) is None  # the client's input: 422, never 503
    assert database_fault(_raised(postgres_url, "SELECT * FROM missing")) is None
    disk_full = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert database_fault(OperationalError("INSERT", {}, disk_full)) == (
        "the database disk is full"
    )
