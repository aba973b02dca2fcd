"""Driving incidents and the real job and delivery workers with a fake clock, for the
delivery and channel tests: act through the incident service, then jump from one due
moment to the next, so minutes of retries take milliseconds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from tests.support.clock import ClockHarness

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import next_due_at
from tocsin.engine.delivery import DeliveryWorker, Outcome
from tocsin.engine.worker import Worker
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate, StatusUpdateCreate
from tocsin.incidents.rules import IncidentStatus
from tocsin.notify import outbox
from tocsin.notify.channels import OutboundMessage
from tocsin.notify.models import Delivery, Notification, NotificationKind
from tocsin.notify.service import enqueue, list_notifications
from tocsin.web.context import AppContext

BASE_POLICY = """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m, postmortem_required: true}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
  - {name: SEV3, respond_within: 1h, escalate_after: 2h, update_every: 2h, resolve_target: 1d}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com}
  - {name: bob, full_name: Bob Baker, email: bob@example.com}
teams:
  - {name: platform, members: [alice, bob], lead: alice}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, team: platform, escalation_policy: main, customer_facing: true}
"""


class ChannelHarness(ClockHarness):
    """``at(minutes)`` runs the jobs and the deliveries that fall due on the way."""

    def __init__(
        self,
        context: AppContext,
        clock: FakeClock,
        environ: Mapping[str, str],
        *,
        after_send: Callable[[OutboundMessage, Outcome], None] | None = None,
    ) -> None:
        super().__init__(clock)
        self.context = context
        self.jobs = Worker(sessions=context.sessions, policy=context.policy, clock=clock)
        self.delivery = DeliveryWorker(
            sessions=context.sessions,
            policy=context.policy,
            clock=clock,
            environ=environ,
            rand=lambda: 0.5,
            after_send=after_send,
        )

    def configure(self, extra: str) -> None:
        path = self.context.policy.path
        assert path is not None
        path.write_text(BASE_POLICY + extra, encoding="utf-8")
        self.context.policy.reload()

    def declare(
        self, severity: str = "SEV1", title: str = "API down", *, drill: bool = False
    ) -> str:
        with session_scope(self.context.sessions) as session:
            incident = service.declare(
                session=session,
                policy=self.context.policy.current,
                actor="bob",
                data=IncidentCreate(title=title, severity=severity, services=["api"], drill=drill),
                now=self.clock.now(),
            )
            return f"INC-{incident.number}"

    def act(self, ref: str, action: str, message: str = "working on it") -> None:
        with session_scope(self.context.sessions) as session:
            incident = service.get(session=session, ref=ref)
            policy, now = self.context.policy.current, self.clock.now()
            if action == "ack":
                service.acknowledge(
                    session=session, policy=policy, incident=incident, actor="alice", now=now
                )
            elif action in ("resolve", "reopen"):
                target = (
                    IncidentStatus.resolved if action == "resolve" else IncidentStatus.triggered
                )
                service.transition(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    target=target,
                    now=now,
                )
            elif action == "update":
                service.post_update(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="alice",
                    data=StatusUpdateCreate(message=message),
                    now=now,
                )
            else:
                raise AssertionError(action)

    def incident_pk(self, ref: str) -> int:
        with session_scope(self.context.sessions, write=False) as session:
            return service.get(session=session, ref=ref).id

    def next_due(self) -> datetime | None:
        with session_scope(self.context.sessions, write=False) as session:
            due = [
                d
                for d in (next_due_at(session=session), outbox.next_wakeup_at(session=session))
                if d
            ]
        return min(due) if due else None

    def run_due(self) -> None:
        self.jobs.run_due()
        self.delivery.run_due()

    def message(self, key: str, person: str = "alice", channel: str = "person") -> None:
        """Queue one plain message (no incident), as handoff reports are queued."""
        with session_scope(self.context.sessions) as session:
            enqueue(
                session=session,
                key=key,
                person=person,
                kind=NotificationKind.handoff,
                subject=f"message {key}",
                body=f"body of {key}",
                reason="test",
                now=self.clock.now(),
                channel=channel,
            )

    def deliveries(self, channel: str | None = None, kind: str | None = None) -> list[Delivery]:
        with session_scope(self.context.sessions, write=False) as session:
            query = select(Delivery).order_by(Delivery.id)
            if channel is not None:
                query = query.where(Delivery.channel == channel)
            if kind is not None:
                query = query.where(Delivery.kind == kind)
            return list(session.scalars(query))

    def notifications(self, *states: str) -> list[Notification]:
        with session_scope(self.context.sessions, write=False) as session:
            rows, _ = list_notifications(session=session, states=states)
            return rows

    def timeline(self, ref: str) -> list[tuple[str, str]]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = service.get(session=session, ref=ref)
            return [
                (e.kind, e.summary) for e in service.timeline(session=session, incident=incident)
            ]
