"""A flood of incidents on one service never makes another incident's page wait: the
engine's timers and the outbox's messages are taken in turns across lanes, not oldest
first (the service layer, fake clock, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.integrations import create_integration
from tocsin.alerts.models import Integration
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job, lock_due, schedule
from tocsin.engine.handlers import HANDLERS, EngineContext, JobHandler
from tocsin.engine.worker import Worker
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, IncidentCreate
from tocsin.incidents.paging import ESCALATE
from tocsin.ingest.alertmanager import parse_alertmanager
from tocsin.notify.models import Notification
from tocsin.notify.outbox import claim_expansions
from tocsin.policy.loader import example_policy_text
from tocsin.web.context import AppContext

FLOOD = 300


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The example policy with the storm rule off: every alert opens its own incident."""
    text = example_policy_text()
    assert "  storm:\n    enabled: true" in text
    path = tmp_path / "tocsin.yaml"
    path.write_text(text.replace("  storm:\n    enabled: true", "  storm:\n    enabled: false"))
    return path


def _flood(context: AppContext, clock: FakeClock, count: int) -> None:
    """``count`` distinct critical alerts for checkout-api in one webhook."""
    policy = context.policy.current
    with session_scope(context.sessions) as session:
        integration, _ = create_integration(
            session=session,
            policy=policy,
            name="flood",
            service="checkout-api",
            kind="alertmanager",
            now=clock.now(),
        )
        integration_id = integration.id
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"Flood{i:04d}",
                    "instance": f"node-{i}",
                    "severity": "critical",
                    "service": "checkout-api",
                },
                "annotations": {"summary": f"flood {i}"},
                "startsAt": clock.now().isoformat(),
                "fingerprint": f"{i:016x}",
            }
            for i in range(count)
        ],
    }
    with session_scope(context.sessions) as session:
        found = session.get(Integration, integration_id)
        assert found is not None
        results = alerts.ingest(
            session=session,
            policy=policy,
            integration=found,
            events=parse_alertmanager(body),
            now=clock.now(),
        )
    assert len({r.incident for r in results}) == count  # the storm rule is off


def _declare_probe(context: AppContext, clock: FakeClock) -> int:
    with session_scope(context.sessions) as session:
        incident = incidents.declare(
            session=session,
            policy=context.policy.current,
            actor="alice",
            data=IncidentCreate(title="Logins fail", severity="SEV1", services=["auth-service"]),
            now=clock.now(),
        )
        return incident.id


def test_a_page_declared_after_a_flood_of_incidents_goes_out_first(
    app_context: AppContext, clock: FakeClock
) -> None:
    _flood(app_context, clock, FLOOD)
    clock.advance(timedelta(seconds=1))
    probe = _declare_probe(app_context, clock)

    # Tier 1: the delivery worker's first transaction expands the probe's page.
    with session_scope(app_context.sessions) as session:
        waiting = session.scalars(
            select(Notification.incident_id).where(Notification.kind == "page")
        )
        assert len(set(waiting)) == FLOOD + 1  # oldest first, the probe's would be last
        first = claim_expansions(session=session, now=clock.now(), limit=10)
        assert probe in {n.incident_id for n in first}

    # Nobody acknowledged: an hour on, every incident's escalation timers are due at
    # once, and the engine's first batch of 20 holds the probe's.
    clock.advance(timedelta(hours=1))
    handled: list[tuple[str, int | None]] = []

    def recording(kind: str, handler: JobHandler) -> JobHandler:
        def handle(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
            handled.append((kind, payload.get("incident_id")))
            return handler(session, context, payload)

        return handle

    handlers = {kind: recording(kind, handler) for kind, handler in HANDLERS.items()}
    worker = Worker(
        sessions=app_context.sessions,
        policy=app_context.policy,
        clock=clock,
        handlers=handlers,
        batch=20,
    )
    worker.run_due()
    escalations = [incident for kind, incident in handled if kind == ESCALATE]
    assert len(set(escalations)) == FLOOD + 1  # the flood escalates too
    assert probe in [incident for _, incident in handled[:20]], "the probe waited behind the flood"


def test_jobs_are_taken_in_turns_across_lanes_oldest_first_within_a_turn(
    app_context: AppContext, clock: FakeClock
) -> None:
    start = clock.now()
    with session_scope(app_context.sessions) as session:
        for n in range(30):  # a deep lane, all due before the others
            schedule(
                session=session,
                kind="probe",
                due_at=start + timedelta(milliseconds=n),
                payload={},
                key=f"deep/{n}",
                now=start,
                lane="service:checkout-api",
            )
        for lane in ("people", "service:auth-service"):
            for n in range(2):
                schedule(
                    session=session,
                    kind="probe",
                    due_at=start + timedelta(seconds=1 + n),
                    payload={},
                    key=f"{lane}/{n}",
                    now=start,
                    lane=lane,
                )
    clock.advance(timedelta(seconds=5))
    with session_scope(app_context.sessions) as session:
        keys = [job.key for job in lock_due(session=session, now=clock.now(), limit=7)]
    assert keys == [
        "deep/0",
        "people/0",
        "service:auth-service/0",
        "deep/1",
        "people/1",
        "service:auth-service/1",
        "deep/2",
    ]


def test_incidents_opened_by_monitoring_share_their_service_lane_and_people_theirs(
    app_context: AppContext, clock: FakeClock
) -> None:
    _flood(app_context, clock, 12)
    probe = _declare_probe(app_context, clock)
    with session_scope(app_context.sessions, write=False) as session:
        lanes = {i.id: i.lane for i in session.scalars(select(Incident))}
        jobs = {j.lane for j in session.scalars(select(Job).where(Job.kind == ESCALATE))}
    assert lanes.pop(probe) == "people"
    assert set(lanes.values()) == {"service:checkout-api"}
    assert jobs == {"people", "service:checkout-api"}
