"""Storage behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.base import UTCDateTime
from tocsin.db.counters import next_number
from tocsin.db.direct import DirectStatement
from tocsin.db.migrate import alembic_config, current_revision, head_revision, upgrade
from tocsin.incidents.models import Incident
from tocsin.notify.models import DeliveryCursor
from tocsin.tables import metadata


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        upgrade(engine)  # a second run is a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_times_come_back_as_utc(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = SessionFactory(engine)
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    try:
        with session_scope(sessions) as session:
            session.add(
                Incident(
                    number=next_number(session, "incident"),
                    title="t",
                    description="",
                    status="triggered",
                    severity="SEV1",
                    severity_rank=1,
                    tags=[],
                    detected_at=at,
                    created_at=at,
                    updated_at=at,
                    created_by="test",
                )
            )
        with session_scope(sessions, write=False) as session:
            stored = session.scalars(select(Incident)).one()
        assert stored.detected_at == at
        assert stored.detected_at.utcoffset() is not None
    finally:
        engine.dispose()


def test_concurrent_writers_get_distinct_incident_numbers(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = SessionFactory(engine)
    numbers: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            with session_scope(sessions) as session:
                n = next_number(session, "incident")
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert sorted(numbers) == list(range(1, 41))


def test_a_rolled_back_transaction_gives_its_number_back(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = SessionFactory(engine)
    try:
        try:
            with session_scope(sessions) as session:
                next_number(session, "incident")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with session_scope(sessions) as session:
            assert next_number(session, "incident") == 1
    finally:
        engine.dispose()


def test_incidents_tagged_drill_before_drills_existed_become_drills(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        command.downgrade(alembic_config(engine), "0014")
        table = sa.table(
            "incidents",
            *(sa.column(name) for name in ("number", "title", "description", "status")),
            *(sa.column(name) for name in ("severity", "severity_rank", "created_by")),
            sa.column("tags", sa.JSON()),
            *(sa.column(n, UTCDateTime()) for n in ("detected_at", "created_at", "updated_at")),
        )
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        with engine.begin() as conn:
            for number, tags in ((1, ["checkout-api", "drill"]), (2, ["drilling-rig"])):
                conn.execute(
                    table.insert().values(
                        number=number,
                        title=f"Incident {number}",
                        description="",
                        status="resolved",
                        severity="SEV1",
                        severity_rank=1,
                        created_by="tocsin",
                        tags=tags,
                        detected_at=at,
                        created_at=at,
                        updated_at=at,
                    )
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT number, drill FROM incidents ORDER BY number"))
            assert [(n, bool(d)) for n, d in rows] == [(1, True), (2, False)]
    finally:
        engine.dispose()


def test_a_direct_query_sees_what_its_transaction_added_but_has_not_written(
    database_url: str,
) -> None:
    """The delivery worker claims, in the transaction that expanded them, the sends it
    has just added: a query on the driver's cursor must see them as the session's own
    queries do, or each page takes a second turn of the writer."""
    engine = create_db_engine(database_url)
    sessions = SessionFactory(engine)
    behind = DirectStatement(
        lambda _dialect: (
            select(DeliveryCursor.name)
            .where(DeliveryCursor.position.between(5, sa.bindparam("position")))
            .order_by(DeliveryCursor.name)
            .limit(sa.bindparam("limit"))
        )
    )
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        with session_scope(sessions) as session:
            for name, position in (("feed", 10), ("mail", 20), ("status", 300)):
                session.add(DeliveryCursor(name=name, position=position, updated_at=now))
            assert behind.fetch(session, {"position": 100, "limit": 10}) == [
                ("feed",),
                ("mail",),
            ]
            with session.no_autoflush:
                session.add(DeliveryCursor(name="chat", position=7, updated_at=now))
                assert behind.fetch(session, {"position": 100, "limit": 10}) == [
                    ("feed",),
                    ("mail",),
                ]
        with session_scope(sessions, write=False) as session:
            assert behind.fetch(session, {"position": 1000, "limit": 3}) == [
                ("chat",),
                ("feed",),
                ("mail",),
            ]
    finally:
        engine.dispose()
