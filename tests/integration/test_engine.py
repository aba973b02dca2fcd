"""The worker: exactly-once handling, leases, retries, concurrency."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tocsin.clock import FakeClock
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db import session as db_session
from tocsin.db.jobs import Job, schedule
from tocsin.engine.handlers import EngineContext
from tocsin.engine.worker import Worker
from tocsin.policy import PolicyStore

PROBE = "probe"


def _probe(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
    session.execute(
        text("INSERT INTO probe_hits (job_key, worker) VALUES (:k, :w)"),
        {"k": payload["key"], "w": payload.get("worker", "")},
    )
    return "hit"


def _setup(database_url: str) -> SessionFactory:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe_hits (job_key VARCHAR(100), worker VARCHAR(100))"))
    return SessionFactory(engine)


def _enqueue(sessions: SessionFactory, clock: FakeClock, count: int) -> None:
    with session_scope(sessions) as session:
        for n in range(count):
            key = f"probe/{n}"
            schedule(
                session=session,
                kind=PROBE,
                due_at=clock.now(),
                payload={"key": key},
                key=key,
                now=clock.now(),
            )


def _hits(sessions: SessionFactory) -> dict[str, int]:
    with session_scope(sessions, write=False) as session:
        rows = session.execute(
            text("SELECT job_key, COUNT(*) FROM probe_hits GROUP BY job_key")
        ).all()
    return {key: n for key, n in rows}


@pytest.mark.postgres
def test_two_workers_handle_two_thousand_due_jobs_exactly_once(
    postgres_url: str, policy_file: Any, clock: FakeClock
) -> None:
    """PostgreSQL is the scale-out engine: workers in separate connections share it."""
    database_url = postgres_url
    sessions = _setup(database_url)
    _enqueue(sessions, clock, 2000)
    store = PolicyStore(policy_file)
    handled: dict[str, int] = {}

    def run(name: str) -> None:
        engine = create_db_engine(database_url)
        worker = Worker(
            sessions=SessionFactory(engine),
            policy=store,
            clock=clock,
            handlers={PROBE: _probe},
            name=name,
            batch=50,
        )
        handled[name] = worker.run_due()
        engine.dispose()

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    hits = _hits(sessions)
    assert len(hits) == 2000
    assert set(hits.values()) == {1}
    assert sum(handled.values()) == 2000
    assert all(n > 0 for n in handled.values()), handled  # both took part
    with session_scope(sessions, write=False) as session:
        states = dict(
            session.execute(
                select(Job.state, func.count()).where(Job.kind == PROBE).group_by(Job.state)
            ).all()
        )
    assert states == {"done": 2000}
    sessions.engine.dispose()


def test_a_worker_takes_the_writer_only_when_a_job_is_due(
    database_url: str, policy_file: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write transaction waits its turn behind the others (on the worst day, behind
    a storm's): a round that finds nothing due, or the look after the last due job, must
    not take one."""
    sessions = _setup(database_url)
    turns: list[str] = []
    monkeypatch.setattr(
        db_session,
        "WAIT_OBSERVERS",
        [*db_session.WAIT_OBSERVERS, lambda _session, writer, _seconds: turns.append(writer)],
    )
    worker = Worker(
        sessions=sessions, policy=PolicyStore(policy_file), clock=clock, handlers={PROBE: _probe}
    )
    try:
        worker.run_due()  # sets up the standing jobs (one transaction), none due now
        turns.clear()
        assert worker.run_due() == 0
        assert turns == []
        _enqueue(sessions, clock, 3)
        turns.clear()
        assert worker.run_due() == 3
        assert turns == ["background"]  # the batch, and no second look with the writer
        assert _hits(sessions) == {"probe/0": 1, "probe/1": 1, "probe/2": 1}
    finally:
        sessions.engine.dispose()


def test_scheduling_the_same_key_twice_makes_one_job(database_url: str, clock: FakeClock) -> None:
    sessions = SessionFactory(create_db_engine(database_url))
    try:
        with session_scope(sessions) as session:
            first = schedule(
                session=session,
                kind=PROBE,
                due_at=clock.now(),
                payload={},
                key="k",
                now=clock.now(),
            )
            second = schedule(
                session=session,
                kind=PROBE,
                due_at=clock.now(),
                payload={},
                key="k",
                now=clock.now(),
            )
    finally:
        sessions.engine.dispose()
    assert (first, second) == (True, False)


def test_a_failing_handler_is_retried_with_backoff_then_marked_failed(
    database_url: str, policy_file: Any, clock: FakeClock
) -> None:
    sessions = _setup(database_url)
    calls: list[int] = []

    def broken(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
        _probe(session, context, payload)  # rolled back with the failure
        calls.append(1)
        raise RuntimeError("downstream unavailable")

    with session_scope(sessions) as session:
        schedule(
            session=session,
            kind=PROBE,
            due_at=clock.now(),
            payload={"key": "x"},
            key="x",
            now=clock.now(),
        )
    worker = Worker(
        sessions=sessions,
        policy=PolicyStore(policy_file),
        clock=clock,
        handlers={PROBE: broken},
        max_attempts=3,
    )
    worker.run_due()
    assert len(calls) == 1
    worker.run_due()  # not due again yet: backoff
    assert len(calls) == 1
    for _ in range(5):
        clock.advance(timedelta(minutes=10))
        worker.run_due()
    assert len(calls) == 3
    assert _hits(sessions) == {}  # no effect of a failed attempt survives
    with session_scope(sessions, write=False) as session:
        job = session.scalars(select(Job).where(Job.kind == PROBE)).one()
    assert job.state == "failed"
    assert "downstream unavailable" in (job.last_error or "")
    sessions.engine.dispose()


def test_a_worker_that_dies_mid_batch_leaves_its_jobs_to_the_next(
    database_url: str, policy_file: Any, clock: FakeClock
) -> None:
    sessions = _setup(database_url)
    _enqueue(sessions, clock, 3)

    def dies(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
        _probe(session, context, payload)
        if payload["key"] == "probe/2":
            raise SystemExit("killed")  # not an error a handler can cause: the process ends
        return "hit"

    store = PolicyStore(policy_file)
    with pytest.raises(SystemExit):
        Worker(sessions=sessions, policy=store, clock=clock, handlers={PROBE: dies}).run_due()
    assert _hits(sessions) == {}  # the batch never committed
    handled = Worker(
        sessions=sessions, policy=store, clock=clock, handlers={PROBE: _probe}
    ).run_due()
    assert handled == 3
    assert _hits(sessions) == {"probe/0": 1, "probe/1": 1, "probe/2": 1}
    sessions.engine.dispose()
