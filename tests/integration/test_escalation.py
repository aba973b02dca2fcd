"""The escalation engine, driven through hours of fake time in milliseconds.

Each test runs on SQLite and on PostgreSQL: incidents are declared through the service
layer (as the API does), the worker handles whatever falls due, and the outbox shows
who was paged, when, and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.clock import ClockHarness

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job, next_due_at
from tocsin.engine.worker import Worker
from tocsin.incidents import paging, service
from tocsin.incidents.models import IncidentCreate, IncidentUpdate, StatusUpdateCreate
from tocsin.incidents.rules import IncidentStatus
from tocsin.notify.models import Notification
from tocsin.oncall.models import OverrideCreate
from tocsin.oncall.service import add_override
from tocsin.web.context import AppContext

POLICY = """
severities:
  - name: SEV1
    aliases: [P0]
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
    postmortem_required: true
  - name: SEV2
    aliases: [P1]
    respond_within: 15m
    escalate_after: 30m
    update_every: 30m
    resolve_target: 2h
    postmortem_required: true
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
  - {name: carol, email: carol@example.com}
  - {name: erin, email: erin@example.com}
  - {name: vp, email: vp@example.com}
  - {name: cto, email: cto@example.com}
  - {name: ceo, email: ceo@example.com}
teams:
  - {name: platform, members: [alice, bob, carol], lead: alice}
schedules:
  - name: primary
    timezone: UTC
    layers:
      - name: weekly
        rotation: weekly
        start: "2026-03-02T09:00"
        participants: [alice, bob, carol]
  - name: secondary
    timezone: UTC
    layers:
      - name: weekly
        rotation: weekly
        start: "2026-02-24T09:00"
        participants: [bob, carol, alice]
escalation_policies:
  - name: platform
    repeat: 2
    tiers:
      - {timeout: 15m, targets: [{schedule: primary}]}
      - {timeout: 30m, targets: [{schedule: secondary}]}
      - {timeout: 45m, targets: [{person: erin}]}
      - {timeout: 1h, targets: [{person: vp}]}
stakeholders:
  - severity: SEV1
    steps:
      - {after: 0m, notify: [{schedule: primary}, {person: erin}]}
      - {after: 15m, notify: [{person: vp}]}
      - {after: 30m, notify: [{person: cto}]}
      - {after: 1h, notify: [{person: ceo}]}
services:
  - {name: api, escalation_policy: platform}
  - {name: docs}
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


class Harness(ClockHarness):
    """``at(minutes)`` runs the escalation jobs that fall due on the way."""

    def __init__(self, context: AppContext, clock: FakeClock) -> None:
        super().__init__(clock)
        self.context = context
        self.worker = Worker(sessions=context.sessions, policy=context.policy, clock=clock)

    def next_due(self) -> datetime | None:
        with session_scope(self.context.sessions, write=False) as session:
            return next_due_at(session=session)

    def run_due(self) -> None:
        self.worker.run_due()

    def declare(self, severity: str = "SEV2", services: tuple[str, ...] = ("api",)) -> str:
        with session_scope(self.context.sessions) as session:
            incident = service.declare(
                session=session,
                policy=self.context.policy.current,
                actor="alice",
                data=IncidentCreate(title="API down", severity=severity, services=list(services)),
                now=self.clock.now(),
            )
            return f"INC-{incident.number}"

    def act(self, ref: str, action: str, **kwargs: object) -> None:
        with session_scope(self.context.sessions) as session:
            incident = service.get(session=session, ref=ref)
            policy = self.context.policy.current
            now = self.clock.now()
            if action == "ack":
                service.acknowledge(
                    session=session, policy=policy, incident=incident, actor="alice", now=now
                )
            elif action == "resolve":
                service.transition(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    target=IncidentStatus.resolved,
                    now=now,
                )
            elif action == "reopen":
                service.transition(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    target=IncidentStatus.triggered,
                    now=now,
                )
            elif action == "update":
                service.post_update(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    data=StatusUpdateCreate(message="working"),
                    now=now,
                )
            elif action == "severity":
                service.edit(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    changes=IncidentUpdate(severity=str(kwargs["to"])),
                    now=now,
                )
            elif action == "escalate":
                paging.escalate_now(
                    session=session,
                    policy=policy,
                    incident=incident,
                    now=now,
                    actor="alice",
                    tier=kwargs.get("tier"),
                )  # type: ignore[arg-type]
            elif action == "repage":
                paging.repage(
                    session=session, policy=policy, incident=incident, now=now, actor="alice"
                )
            elif action == "reassign":
                paging.reassign(
                    session=session,
                    policy=policy,
                    incident=incident,
                    person=str(kwargs["person"]),
                    now=now,
                    actor="alice",
                )
            else:
                raise AssertionError(action)

    def messages(self, kind: str = "page") -> list[tuple[float, str]]:
        with session_scope(self.context.sessions, write=False) as session:
            rows = session.scalars(
                select(Notification).where(Notification.kind == kind).order_by(Notification.id)
            ).all()
        return [(self.minutes(r.created_at), r.person) for r in rows]

    def timeline_kinds(self, ref: str) -> list[str]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = service.get(session=session, ref=ref)
            return [e.kind for e in service.timeline(session=session, incident=incident)]


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Harness:
    return Harness(app_context, clock)


def test_an_unacknowledged_incident_climbs_four_tiers_three_times_then_stops(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(10 * 60)
    climb = [(0, "alice"), (15, "bob"), (45, "erin"), (90, "vp")]
    expected = [(offset + 150 * r, person) for r in range(3) for offset, person in climb]
    assert h.messages("page") == expected
    kinds = h.timeline_kinds(ref)
    assert kinds.count("paged") == 12
    assert kinds.count("escalation_exhausted") == 1
    assert kinds.index("escalation_exhausted") > max(i for i, k in enumerate(kinds) if k == "paged")
    assert "sla_breached" in kinds  # 15 min without acknowledgement (SEV2)


@pytest.mark.parametrize("ack_after", [5, 20, 50, 100])
def test_acknowledging_at_any_tier_stops_the_climb(h: Harness, ack_after: int) -> None:
    ref = h.declare("SEV2")
    h.at(ack_after)
    paged_before = h.messages("page")
    h.act(ref, "ack")
    h.at(8 * 60)
    assert h.messages("page") == paged_before
    with session_scope(h.context.sessions, write=False) as session:
        pending = session.scalars(
            select(Job).where(Job.state == "pending", Job.kind == paging.ESCALATE)
        ).all()
    assert pending == []


def test_resolving_mid_climb_cancels_every_timer(h: Harness) -> None:
    ref = h.declare("SEV1")
    h.at(20)
    h.act(ref, "resolve")
    before = (h.messages("page"), h.messages("stakeholder"), h.messages("reminder"))
    h.at(6 * 60)
    assert (h.messages("page"), h.messages("stakeholder"), h.messages("reminder")) == before
    with session_scope(h.context.sessions, write=False) as session:
        assert (
            session.scalars(
                select(Job).where(Job.state == "pending", Job.key.startswith("inc:"))
            ).all()
            == []
        )


def test_sev1_breaches_its_response_sla_and_escalates_early(h: Harness) -> None:
    ref = h.declare("SEV1")
    h.at(6)
    assert h.messages("page") == [(0, "alice"), (5, "bob")]
    kinds = h.timeline_kinds(ref)
    assert kinds.index("sla_breached") < kinds.index("escalated")


def test_the_stakeholder_matrix_runs_even_after_acknowledgement(h: Harness) -> None:
    ref = h.declare("SEV1")
    h.at(1)
    h.act(ref, "ack")
    h.at(90)
    assert h.messages("stakeholder") == [
        (0, "alice"),
        (0, "erin"),
        (15, "vp"),
        (30, "cto"),
        (60, "ceo"),
    ]


def test_raising_the_severity_starts_the_new_matrix(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(1)
    h.act(ref, "ack")
    h.at(20)
    assert h.messages("stakeholder") == []
    h.act(ref, "severity", to="P0")
    h.at(40)
    # the SEV1 matrix counts from the incident's start: 0 and 15 min are past, 30 min is not
    assert h.messages("stakeholder") == [
        (20, "alice"),
        (20, "erin"),
        (20, "vp"),
        (30, "cto"),
    ]


def test_a_missing_status_update_reminds_the_commander(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(1)
    h.act(ref, "ack")
    h.at(35)  # no update within 30 min: reminded at 30
    h.act(ref, "update")  # at 35 min: the next reminder is due at 65, not 60
    h.at(70)
    reminders = h.messages("reminder")
    assert [m for m, _ in reminders] == [30, 65]
    assert {p for _, p in reminders} == {"alice"}  # the primary on call became commander
    assert h.timeline_kinds(ref).count("update_overdue") == 2


def test_manual_controls_page_at_once_and_restart_the_timeout(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(2)
    h.act(ref, "escalate")  # tier 2 now instead of at 15 min
    h.at(3)
    h.act(ref, "repage")  # tier 2 again, its 30 min timeout restarts
    h.at(4)
    h.act(ref, "escalate", tier=4)
    h.at(5)
    h.act(ref, "reassign", person="carol")
    h.at(5 + 60 + 1)  # tier 4's 1 h timeout from the reassignment: round 2, tier 1
    assert h.messages("page") == [
        (0, "alice"),
        (2, "bob"),
        (3, "bob"),
        (4, "vp"),
        (5, "carol"),
        (65, "alice"),
    ]
    kinds = h.timeline_kinds(ref)
    assert kinds.count("escalated") == 2
    assert "reassigned" in kinds


def test_an_override_pages_the_stand_in(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        add_override(
            session=session,
            policy=h.context.policy.current,
            schedule="primary",
            data=OverrideCreate(
                person="carol", start=h.start - timedelta(hours=1), end=h.start + timedelta(hours=2)
            ),
            actor="alice",
            now=h.clock.now(),
        )
    h.declare("SEV2")
    assert h.messages("page") == [(0, "carol")]


def test_reopening_starts_a_new_climb(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(1)
    h.act(ref, "resolve")
    h.at(30)
    h.act(ref, "reopen")
    h.at(46)
    assert h.messages("page") == [(0, "alice"), (30, "alice"), (45, "bob")]


def test_a_service_without_escalation_policy_is_flagged_on_the_timeline(h: Harness) -> None:
    ref = h.declare("SEV2", services=("docs",))
    assert h.messages("page") == []
    assert "escalation_missing" in h.timeline_kinds(ref)


def test_a_stale_timer_does_nothing(h: Harness) -> None:
    """A job that fires for a step that is no longer next (say, after a manual escalation
    raced it) must not page anyone twice."""
    ref = h.declare("SEV2")
    with session_scope(h.context.sessions) as session:
        incident = service.get(session=session, ref=ref)
        outcome = paging.handle_escalate(
            session=session,
            policy=h.context.policy.current,
            incident=incident,
            payload={"incident_id": incident.id, "epoch": 1, "step": 5},
            now=h.clock.now(),
        )
    assert outcome == "stale"
    assert h.messages("page") == [(0, "alice")]


def _at(h: Harness, minutes: float) -> datetime:
    return h.when(minutes)
