"""Heartbeats (dead man's switches) driven through the engine with the fake clock, and
the integration and silence use cases, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.clock import ClockHarness

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Integration
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job, next_due_at
from tocsin.engine.worker import Worker
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.ingest import parse_alertmanager
from tocsin.web.context import AppContext

POLICY = """
severities:
  - {name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}
  - {name: SEV2, aliases: [high], respond_within: 15m, escalate_after: 30m,
     update_every: 30m, resolve_target: 2h}
people:
  - {name: alice, email: alice@example.com}
escalation_policies:
  - name: default
    tiers:
      - {timeout: 15m, targets: [{person: alice}]}
services:
  - {name: monitoring}
  - {name: batch}
routes:
  name: default
  routes:
    - name: watchdog
      match: ['alertname="Watchdog"']
      open_incident: false
      heartbeat: 10m
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


class Harness(ClockHarness):
    """``at(minutes)`` runs the heartbeat checks that fall due on the way."""

    def __init__(self, context: AppContext, clock: FakeClock) -> None:
        super().__init__(clock)
        self.context = context
        self.worker = Worker(sessions=context.sessions, policy=context.policy, clock=clock)

    def next_due(self) -> datetime | None:
        with session_scope(self.context.sessions, write=False) as session:
            return next_due_at(session=session)

    def run_due(self) -> None:
        self.worker.run_due()

    @property
    def policy(self) -> Any:
        return self.context.policy.current

    def create(self, name: str, service: str, kind: str, every: timedelta | None = None) -> str:
        with session_scope(self.context.sessions) as session:
            _, key = alerts.create_integration(
                session=session,
                policy=self.policy,
                name=name,
                service=service,
                kind=kind,
                now=self.clock.now(),
                heartbeat_interval=every,
            )
        return key

    def ping(self, key: str) -> None:
        with session_scope(self.context.sessions) as session:
            integration = alerts.find_integration(session=session, key=key)
            assert integration is not None
            alerts.ping(
                session=session, policy=self.policy, integration=integration, now=self.clock.now()
            )

    def watchdog(self, key: str) -> list[str]:
        body: dict[str, Any] = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Watchdog", "severity": "none"},
                    "annotations": {},
                    "startsAt": "2026-03-02T08:00:00Z",
                    "fingerprint": "e98a1d7d2d2f6d3c",
                }
            ],
        }
        with session_scope(self.context.sessions) as session:
            integration = alerts.find_integration(session=session, key=key)
            assert integration is not None
            results = alerts.ingest(
                session=session,
                policy=self.policy,
                integration=integration,
                events=parse_alertmanager(body),
                now=self.clock.now(),
            )
        return [r.outcome.value for r in results]

    def incidents(self) -> list[tuple[str, str, str, list[str]]]:
        with session_scope(self.context.sessions, write=False) as session:
            rows = session.scalars(select(Incident).order_by(Incident.number)).all()
            return [
                (f"INC-{i.number}", i.title, i.status, sorted(s.service for s in i.services))
                for i in rows
            ]


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Harness:
    return Harness(app_context, clock)


def test_a_missed_heartbeat_opens_an_incident_and_the_next_ping_resolves_it(h: Harness) -> None:
    key = h.create("nightly-backup", "batch", "heartbeat", timedelta(minutes=5))
    h.at(1)
    assert h.incidents() == []  # not armed before its first ping
    h.ping(key)
    h.at(5)
    h.ping(key)  # re-arms: due at 10 now, not 6
    h.at(9)
    assert h.incidents() == []
    h.at(11)
    assert h.incidents() == [("INC-1", "Heartbeat missed: nightly-backup", "triggered", ["batch"])]
    h.at(30)
    assert len(h.incidents()) == 1  # one incident per outage, not one per interval
    h.ping(key)
    assert h.incidents()[0][2] == "resolved"
    with session_scope(h.context.sessions, write=False) as session:
        incident = incidents.get(session=session, ref="INC-1")
        kinds = [e.kind for e in incidents.timeline(session=session, incident=incident)]
        assert incident.detected_at == h.when(10)
    assert "heartbeat_missed" in kinds and "heartbeat_received" in kinds
    h.at(36)  # armed again by that ping
    assert [i[2] for i in h.incidents()] == ["resolved", "triggered"]


def test_disabling_a_heartbeat_integration_stops_its_timer(h: Harness) -> None:
    key = h.create("cron", "batch", "heartbeat", timedelta(minutes=5))
    h.ping(key)
    with session_scope(h.context.sessions) as session:
        alerts.disable_integration(session=session, name="cron", now=h.clock.now())
    h.at(60)
    assert h.incidents() == []
    with session_scope(h.context.sessions, write=False) as session:
        states = session.scalars(select(Job.state).where(Job.kind == "heartbeat_missed")).all()
    assert states == ["cancelled"]


def test_a_watchdog_alert_is_a_heartbeat_for_its_route(h: Harness) -> None:
    key = h.create("prometheus", "monitoring", "alertmanager")
    assert h.watchdog(key) == ["no_incident_route"]
    for minute in (4, 8, 12):  # Alertmanager repeats the always-firing alert
        h.at(minute)
        assert h.watchdog(key) == ["deduplicated"]
    h.at(21)
    assert h.incidents() == []
    h.at(23)  # 10 minutes after the last repeat
    assert h.incidents() == [
        ("INC-1", "Heartbeat missed: prometheus (watchdog)", "triggered", ["monitoring"])
    ]
    h.watchdog(key)
    assert h.incidents()[0][2] == "resolved"


def test_pinging_something_that_is_not_a_heartbeat_is_refused(h: Harness) -> None:
    key = h.create("prometheus", "monitoring", "alertmanager")
    with pytest.raises(InvalidInput):
        h.ping(key)


def test_integrations_show_their_key_once_and_store_only_its_hash(h: Harness) -> None:
    key = h.create("grafana", "monitoring", "grafana")
    assert key.startswith("tcsi_") and len(key) == 5 + 32
    with session_scope(h.context.sessions) as session:
        row = session.scalars(select(Integration)).one()
        assert key not in (row.key_hash, row.key_prefix)
        assert row.key_prefix == key[:11]
        read = alerts.integration_to_read(row).model_dump()
        assert key not in str(read) and "key" not in read
        assert alerts.find_integration(session=session, key=key) is not None
        assert alerts.find_integration(session=session, key=key + "x") is None
        assert alerts.find_integration(session=session, key="") is None
        alerts.disable_integration(session=session, name="grafana", now=h.clock.now())
        assert alerts.find_integration(session=session, key=key) is None


@pytest.mark.parametrize(
    ("name", "service", "kind", "every", "field"),
    [
        ("bad name!", "monitoring", "generic", None, "name"),
        ("x", "nope", "generic", None, "service"),
        ("x", "monitoring", "nagios", None, "kind"),
        ("x", "monitoring", "heartbeat", None, "heartbeat_interval"),
        ("x", "monitoring", "heartbeat", timedelta(seconds=1), "heartbeat_interval"),
        ("x", "monitoring", "generic", timedelta(minutes=5), "heartbeat_interval"),
    ],
)
def test_bad_integrations_are_refused_naming_the_field(
    h: Harness, name: str, service: str, kind: str, every: timedelta | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        h.create(name, service, kind, every)
    assert caught.value.field == field


def test_integration_names_are_unique(h: Harness) -> None:
    h.create("a", "monitoring", "generic")
    with pytest.raises(Conflict):
        h.create("a", "batch", "generic")
    with session_scope(h.context.sessions) as session, pytest.raises(NotFound):
        alerts.get_integration(session=session, name="b")


def test_silences_are_validated_listed_by_state_and_expired(h: Harness) -> None:
    now = h.clock.now()
    hour = timedelta(hours=1)
    with session_scope(h.context.sessions) as session:

        def add(matchers: list[str], start: Any = None, end: Any = now + hour) -> int:
            return alerts.add_silence(
                session=session,
                matchers=matchers,
                starts_at=start,
                ends_at=end,
                created_by="alice",
                comment="",
                now=now,
            ).id

        active = add(['service="batch"'])
        pending = add(["job=~backup.*"], now + hour, now + 2 * hour)
        for matchers, end, field in [
            (["service=batch", 'severity=~"(crit"'], now + hour, "matchers[1]"),
            (["team=~.*"], now + hour, "matchers"),  # would mute everything
            ([], now + hour, "matchers"),
            (["service=batch"], now - hour, "ends_at"),
        ]:
            with pytest.raises(InvalidInput) as caught:
                add(matchers, None, end)
            assert caught.value.field == field
        states = {
            state: [s.id for s in alerts.list_silences(session=session, state=state, now=now)]
            for state in ("active", "pending", "expired", "all")
        }
        assert states == {
            "active": [active],
            "pending": [pending],
            "expired": [],
            "all": [pending, active],
        }
        record = alerts.get_silence(session=session, silence_id=active)
        assert record.matchers == ['service="batch"']
        alerts.expire_silence(session=session, silence_id=active, now=now + timedelta(minutes=5))
        alerts.expire_silence(session=session, silence_id=pending, now=now + timedelta(minutes=5))
        with pytest.raises(Conflict):
            alerts.expire_silence(session=session, silence_id=active, now=now + hour)
        later = now + timedelta(minutes=6)
        expired = alerts.list_silences(session=session, state="expired", now=later)
        assert sorted(s.id for s in expired) == [active, pending]
        read = alerts.silence_to_read(record, later)
        assert (read.state, read.ends_at) == ("expired", now + timedelta(minutes=5))
        with pytest.raises(InvalidInput):
            alerts.list_silences(session=session, state="muted", now=now)
        with pytest.raises(NotFound):
            alerts.expire_silence(session=session, silence_id=999, now=now)
