"""On PostgreSQL a repeat rewrites its alert's row: the new version must fit on the
same page (a heap-only update), or every one of the alert indexes gets a new entry too,
which made counting repeats several times dearer (alert pages are kept half empty for
it). Measured with PostgreSQL's own per-transaction counters, so nothing waits for the
statistics to be reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from tests.integration.test_alert_pipeline import Harness, am, policy_text, webhook

from tocsin.alerts import service as alerts
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.web.context import AppContext

_COUNTERS = text(
    "SELECT pg_stat_get_xact_tuples_updated('alerts'::regclass), "
    "pg_stat_get_xact_tuples_hot_updated('alerts'::regclass)"
)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_repeats_of_firing_alerts_touch_no_index(
    app_context: AppContext, clock: FakeClock, policy_file: Path
) -> None:
    harness = Harness(app_context, clock, policy_file)
    firing = [am(f"Disk{i:04d}", "checkout", instance=f"node-{i}") for i in range(300)]
    harness.fire(*firing)  # 300 rows written together: their pages are as full as allowed
    harness.at(30)
    with session_scope(app_context.sessions) as session:
        found = alerts.find_integration(session=session, key=harness.keys["prometheus"])
        assert found is not None
        # Counts not yet reported so far, this transaction's included: take the difference.
        before = session.execute(_COUNTERS).one()
        results = alerts.ingest(
            session=session,
            policy=harness.policy,
            integration=found,
            events=webhook(*firing),
            now=clock.now(),
        )
        assert {r.outcome for r in results} == {"deduplicated"}
        after = session.execute(_COUNTERS).one()
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert updated == 300
    assert heap_only >= 0.9 * updated, (updated, heap_only)
