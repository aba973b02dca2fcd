"""Storage behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.counters import next_number
from tocsin.db.migrate import current_revision, head_revision, upgrade
from tocsin.incidents.models import Incident
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
