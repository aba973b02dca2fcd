"""The engine resumes by itself after a database fault: a timer that fell due while
the database could not be written is handled once it can, exactly once, and is not
given up on however long the fault lasted."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from tests.integration.test_faults_sqlite import SqliteFaults

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job
from tocsin.engine.worker import Worker
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

POLICY = """
severities:
  - {name: SEV1, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
escalation_policies:
  - name: fast
    tiers:
      - {timeout: 5m, targets: [{person: alice}]}
      - {timeout: 1h, targets: [{person: bob}]}
services:
  - {name: api, escalation_policy: fast}
"""


@pytest.fixture
def context(app_context: AppContext, policy_file: Path) -> AppContext:
    policy_file.write_text(POLICY, encoding="utf-8")
    app_context.policy.reload()
    return app_context


@pytest.fixture
def faults(context: AppContext) -> Iterator[SqliteFaults]:
    injected = SqliteFaults(context.sessions.engine)
    yield injected
    injected.close()


def paged(context: AppContext) -> list[str]:
    with session_scope(context.sessions, write=False) as session:
        rows = session.scalars(
            select(Notification).where(Notification.kind == "page").order_by(Notification.id)
        ).all()
        return [row.person for row in rows]


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_a_timer_due_during_the_fault_runs_after_it(
    context: AppContext, faults: SqliteFaults, clock: FakeClock, fault: str
) -> None:
    worker = Worker(sessions=context.sessions, policy=context.policy, clock=clock)
    with session_scope(context.sessions) as session:
        service.declare(
            session=session,
            policy=context.policy.current,
            actor="test",
            data=IncidentCreate(title="API down " + "x" * 290, severity="SEV1", services=["api"]),
            now=clock.now(),
        )
    worker.run_due()
    assert paged(context) == ["alice"]

    if fault == "disk full":
        faults.fill_disk()
        faults.free_disk()
        faults.full_at_commit = True  # every write transaction fails
    else:
        faults.read_only = True
    for _ in range(12):  # longer than every retry back-off of a failing job put together
        clock.advance(timedelta(minutes=10))
        with contextlib.suppress(SQLAlchemyError):  # run_forever logs it and tries again
            worker.run_due()
    assert paged(context) == ["alice"]  # tier 2 is overdue, and not paged yet
    faults.full_at_commit = faults.read_only = False

    clock.advance(timedelta(seconds=1))
    worker.run_due()
    assert paged(context) == ["alice", "bob"]
    worker.run_due()
    assert paged(context) == ["alice", "bob"]
    with session_scope(context.sessions, write=False) as session:
        assert session.scalars(select(Job).where(Job.state == "failed")).all() == []
