"""Cross-process wake-ups on PostgreSQL: a commit in one process wakes the listeners of
the others through LISTEN/NOTIFY (not their poll); a rolled-back transaction wakes
nobody; a listener whose database restarts listens again by itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event
from tests.support.pgcluster import StoppableCluster, find_pg_bin
from tests.support.requirements import require
from tests.support.waiting import wait_for

from tocsin.db import SessionFactory, session_scope
from tocsin.db.engine import create_db_engine
from tocsin.db.jobs import JOB_SCHEDULED, schedule
from tocsin.db.migrate import upgrade
from tocsin.db.signals import CommitSignal
from tocsin.db.wakeups import Listener, listen
from tocsin.incidents.timeline import TIMELINE_APPENDED
from tocsin.notify.outbox import NOTIFICATION_ENQUEUED

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Heard:
    """A subscription to one signal, as the engine's and the delivery worker's are."""

    def __init__(self, signal: CommitSignal) -> None:
        self.signal = signal
        self.event = threading.Event()
        signal.subscribe(self.event)

    def close(self) -> None:
        self.signal.unsubscribe(self.event)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url)
    yield engine
    engine.dispose()


def _other_process_schedules(url: str, key: str, *, commit: bool) -> None:
    """Another process's transaction: its own engine, its own connection."""
    other = create_db_engine(url)
    try:
        sessions = SessionFactory(other)
        outcome = nullcontext() if commit else pytest.raises(RuntimeError)
        with outcome, session_scope(sessions) as session:
            schedule(session=session, kind="k", due_at=NOW, payload={}, key=key, now=NOW)
            if not commit:
                raise RuntimeError("rolled back")
    finally:
        other.dispose()


def test_a_commit_elsewhere_wakes_this_process_and_a_rollback_does_not(
    engine: Engine, postgres_url: str
) -> None:
    listener = Listener(engine).start()
    jobs, pages = Heard(JOB_SCHEDULED), Heard(NOTIFICATION_ENQUEUED)
    try:
        wait_for(listener.listening.is_set, 10, "the listener is listening")
        jobs.event.clear()
        pages.event.clear()

        _other_process_schedules(postgres_url, "rolled-back", commit=False)
        # A marker committed after the rollback: notifications arrive in commit order,
        # so once the marker is heard, a notification of the rollback would have been.
        other = create_db_engine(postgres_url)
        with session_scope(SessionFactory(other)) as session:
            NOTIFICATION_ENQUEUED.raise_in(session)
        other.dispose()
        wait_for(pages.event.is_set, 10, "the marker commit is heard")
        assert not jobs.event.is_set(), "a rolled-back timer woke the engine"

        _other_process_schedules(postgres_url, "committed", commit=True)
        wait_for(jobs.event.is_set, 10, "the committed timer wakes the engine")
    finally:
        jobs.close()
        pages.close()
        listener.stop()


def _notifications(engine: Engine) -> list[list[str]]:
    """The signals each ``pg_notify`` statement sends, statement by statement."""
    sent: list[list[str]] = []

    def count(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if "pg_notify" in statement:
            assert isinstance(params, dict)
            sent.append([params[k] for k in sorted(params)])

    event.listen(engine, "before_cursor_execute", count)
    return sent


def test_one_notification_per_transaction_and_signal_sent_in_one_statement(
    engine: Engine,
) -> None:
    """A webhook that opens a hundred incidents sets hundreds of timers: it announces
    once per kind of work, not once per row, and all its kinds in one statement."""
    sent = _notifications(engine)
    with session_scope(SessionFactory(engine)) as session:
        for index in range(50):
            schedule(session=session, kind="k", due_at=NOW, payload={}, key=f"j{index}", now=NOW)
        TIMELINE_APPENDED.raise_in(session)
        TIMELINE_APPENDED.raise_in(session)
    assert sent == [[JOB_SCHEDULED.name, TIMELINE_APPENDED.name]]


def test_a_savepoint_rolled_back_keeps_the_wake_ups_of_what_came_before_it(
    engine: Engine,
) -> None:
    """The engine runs each timer in a savepoint: one that fails must not silence the
    pages the timers before it queued, in this process or in the others."""
    sent = _notifications(engine)
    pages = Heard(NOTIFICATION_ENQUEUED)
    try:
        with session_scope(SessionFactory(engine)) as session:
            NOTIFICATION_ENQUEUED.raise_in(session)
            with pytest.raises(RuntimeError), session.begin_nested():
                TIMELINE_APPENDED.raise_in(session)
                raise RuntimeError("a timer failed")
        assert pages.event.is_set(), "this process's delivery worker was not woken"
    finally:
        pages.close()
    # Sent with the commit, for the other processes.
    assert len(sent) == 1 and NOTIFICATION_ENQUEUED.name in sent[0]


def test_sqlite_needs_no_listener(tmp_path: object) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/t.db")
    assert listen(engine) is None
    engine.dispose()


def test_the_listener_listens_again_after_the_database_restarts() -> None:
    require(find_pg_bin() is not None, "PostgreSQL server", "apt-get install postgresql")
    with StoppableCluster() as cluster:
        cluster.create_database("wake")
        url = cluster.url("wake")
        engine = create_db_engine(url)
        upgrade(engine)
        listener = Listener(engine).start()
        jobs = Heard(JOB_SCHEDULED)
        try:
            wait_for(listener.listening.is_set, 10, "listening")
            cluster.halt()
            wait_for(lambda: not listener.listening.is_set(), 15, "the listener notices")
            cluster.resume()
            wait_for(listener.listening.is_set, 60, "listening again after the restart")
            jobs.event.clear()
            _other_process_schedules(url, "after-restart", commit=True)
            wait_for(jobs.event.is_set, 10, "a commit after the restart wakes the engine")
        finally:
            jobs.close()
            listener.stop()
            engine.dispose()
