"""A pooled PostgreSQL connection is checked before use without a round trip while the
server has said nothing, and replaced when the server ended it (a restart, an
administrator's ``pg_terminate_backend``): the caller never sees the dead one."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from tocsin.db import SessionFactory, session_scope
from tocsin.db.engine import create_db_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url)
    yield engine
    engine.dispose()


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pinged: list[object] = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        pinged.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return pinged


def _backend_pids(sessions: SessionFactory, count: int) -> list[int]:
    """Check out ``count`` connections at once (so the pool holds that many) and
    return their server processes."""
    held = [sessions() for _ in range(count)]
    try:
        return [s.execute(text("SELECT pg_backend_pid()")).scalar_one() for s in held]
    finally:
        for session in held:
            session.close()


def test_a_quiet_pooled_connection_is_used_without_a_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = SessionFactory(engine)
    first = _backend_pids(sessions, 1)
    pinged = _pings(engine, monkeypatch)
    for _ in range(20):
        with session_scope(sessions) as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == first[0]
    assert pinged == []


def test_connections_the_server_ended_are_replaced_before_anyone_uses_them(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = SessionFactory(engine)
    old = _backend_pids(sessions, 3)
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as admin:
        for pid in old:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    pinged = _pings(engine, monkeypatch)
    # Every pooled connection is dead; each request still gets a live one.
    seen = _backend_pids(sessions, 3)
    assert not set(seen) & set(old)
    assert pinged, "the dead connections were not noticed before use"
    with session_scope(sessions) as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1
