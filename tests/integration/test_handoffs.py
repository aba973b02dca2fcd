"""At each handoff the outgoing and incoming engineers get the handoff report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job
from tocsin.engine.worker import Worker
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate
from tocsin.notify.models import Notification
from tocsin.oncall.models import OverrideCreate
from tocsin.oncall.service import add_override
from tocsin.statuspage.models import MaintenanceCreate
from tocsin.statuspage.service import create_maintenance
from tocsin.web.context import AppContext

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 1h, resolve_target: 1h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
  - {name: carol, email: carol@example.com}
schedules:
  - name: primary
    timezone: UTC
    layers:
      - name: weekly
        rotation: weekly
        start: "2026-03-02T09:00"
        participants: [alice, bob]
alerting:
  maintenance_windows:
    - {service: db, start: "2026-03-10T02:00:00Z", end: "2026-03-10T04:00:00Z",
       comment: "PostgreSQL upgrade"}
services:
  - {name: db}
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def _handoffs(context: AppContext) -> list[tuple[str, str, str]]:
    with session_scope(context.sessions, write=False) as session:
        rows = session.scalars(
            select(Notification).where(Notification.kind == "handoff").order_by(Notification.id)
        ).all()
        return [(r.person, r.data["role"], r.body) for r in rows]


def test_the_weekly_handoff_reports_to_both_engineers(
    app_context: AppContext, clock: FakeClock
) -> None:
    worker = Worker(sessions=app_context.sessions, policy=app_context.policy, clock=clock)
    with session_scope(app_context.sessions) as session:
        service.declare(
            session=session,
            policy=app_context.policy.current,
            actor="alice",
            data=IncidentCreate(title="Replication lag", severity="SEV1", services=["db"]),
            now=clock.now(),
        )
    worker.run_due()
    assert _handoffs(app_context) == []

    clock.set(datetime(2026, 3, 9, 8, 59, tzinfo=UTC))
    worker.run_due()
    assert _handoffs(app_context) == []
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    worker.run_due()
    sent = _handoffs(app_context)
    assert [(person, role) for person, role, _ in sent] == [
        ("alice", "outgoing"),
        ("bob", "incoming"),
    ]
    report = sent[1][2]
    assert "INC-1 [SEV1] triggered: Replication lag" in report
    assert "db: 2026-03-10T02:00:00+00:00 to 2026-03-10T04:00:00+00:00 PostgreSQL upgrade" in report
    assert "Review open incidents" in report

    with session_scope(app_context.sessions, write=False) as session:
        upcoming = session.scalars(
            select(Job.due_at).where(Job.kind == "handoff", Job.state == "pending")
        ).all()
    assert upcoming == [datetime(2026, 3, 16, 9, 0, tzinfo=UTC)]


def test_an_override_moves_the_handoff(app_context: AppContext, clock: FakeClock) -> None:
    worker = Worker(sessions=app_context.sessions, policy=app_context.policy, clock=clock)
    worker.run_due()
    with session_scope(app_context.sessions) as session:
        add_override(
            session=session,
            policy=app_context.policy.current,
            schedule="primary",
            data=OverrideCreate(
                person="carol",
                start=datetime(2026, 3, 4, 12, tzinfo=UTC),
                end=datetime(2026, 3, 5, 12, tzinfo=UTC),
            ),
            actor="alice",
            now=clock.now(),
        )
    clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    worker.run_due()
    assert [(p, r) for p, r, _ in _handoffs(app_context)] == [
        ("alice", "outgoing"),
        ("carol", "incoming"),
    ]
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    worker.run_due()
    assert [(p, r) for p, r, _ in _handoffs(app_context)][2:] == [
        ("carol", "outgoing"),
        ("alice", "incoming"),  # the override ends, alice is back
        ("alice", "outgoing"),
        ("bob", "incoming"),  # the weekly handoff
    ]


def test_the_report_lists_maintenance_scheduled_on_the_status_page(
    app_context: AppContext, clock: FakeClock
) -> None:
    worker = Worker(sessions=app_context.sessions, policy=app_context.policy, clock=clock)
    plans = [
        ("Load balancer swap", datetime(2026, 3, 11, 22, tzinfo=UTC), 2),
        ("Old cleanup, long done", datetime(2026, 3, 3, 1, tzinfo=UTC), 1),
        ("Next quarter's migration", datetime(2026, 6, 1, 1, tzinfo=UTC), 1),
    ]
    with session_scope(app_context.sessions) as session:
        for name, start, hours in plans:
            create_maintenance(
                session=session,
                policy=app_context.policy.current,
                actor="alice",
                data=MaintenanceCreate(
                    name=name,
                    body="We will swap the load balancers.",
                    scheduled_for=start,
                    scheduled_until=start + timedelta(hours=hours),
                ),
                now=clock.now(),
            )
    worker.run_due()
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    worker.run_due()
    report = _handoffs(app_context)[-1][2]
    upcoming = report.split("Scheduled maintenance (next 7 days):")[1].split("Checklist:")[0]
    assert "db: 2026-03-10T02:00:00+00:00 to 2026-03-10T04:00:00+00:00" in upcoming
    assert (
        "  - all components: 2026-03-11T22:00:00+00:00 to 2026-03-12T00:00:00+00:00 "
        "Load balancer swap (status page)" in upcoming
    )
    assert "Old cleanup" not in upcoming and "migration" not in upcoming
