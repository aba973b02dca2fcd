"""On PostgreSQL a batch waits for another process's batch of the same integration (an
advisory lock): that wait is told apart from the batch's own work, which is what the
group commit sizes its groups and the inbox its chunks by (counted as work, one slow
turn of another process made every request look dear and sent the bodies to the
inbox)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.support.alertmanager import firing_body

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Integration
from tocsin.alerts.pipeline import INGEST_LOCK
from tocsin.clock import FakeClock
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.ingest import parse_alertmanager
from tocsin.policy import PolicyStore

HELD_SECONDS = 0.3


@pytest.mark.postgres
def test_the_wait_for_another_batch_of_the_integration_is_not_counted_as_work(
    postgres_url: str, policy_file: Path, clock: FakeClock
) -> None:
    sessions = SessionFactory(create_db_engine(postgres_url))
    policy = PolicyStore(policy_file).current
    try:
        with session_scope(sessions) as session:
            integration, _ = alerts.create_integration(
                session=session,
                policy=policy,
                name="prom",
                service="checkout-api",
                kind="alertmanager",
                now=clock.now(),
            )
            integration_id = integration.id
        taken, release = threading.Event(), threading.Event()

        def other_process() -> None:  # holds the integration's turn, as a batch would
            with sessions.engine.begin() as connection:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:a, :b)"),
                    {"a": INGEST_LOCK, "b": integration_id},
                )
                taken.set()
                release.wait(10)

        holder = threading.Thread(target=other_process)
        holder.start()
        assert taken.wait(10)
        threading.Timer(HELD_SECONDS, release.set).start()
        events = parse_alertmanager(firing_body("Wait", 3, "checkout-api"))
        with session_scope(sessions) as session:
            found = session.get(Integration, integration_id)
            assert found is not None
            started = time.perf_counter()
            results = alerts.ingest(
                session=session, policy=policy, integration=found, events=events, now=clock.now()
            )
            took_ms = (time.perf_counter() - started) * 1000
            waited_ms = alerts.lock_wait_ms(session)
        holder.join(10)
        assert len(results) == 3
        assert waited_ms >= HELD_SECONDS * 1000 * 0.8  # the wait is told...
        assert took_ms - waited_ms < took_ms / 2  # ...and it was most of the call
    finally:
        sessions.engine.dispose()
