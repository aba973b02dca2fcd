"""Checklists through the services, the engine and the delivery worker, on a fake clock.

Incidents are declared and run as the API runs them; the job worker handles the items'
deadlines and the outbox shows who was reminded. Every test runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.support.delivery_harness import ChannelHarness
from tests.support.slack_api import SlackApi

from tocsin.checklists import service as checklists
from tocsin.checklists.models import ChecklistItem
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.db.jobs import Job
from tocsin.engine.worker import Worker
from tocsin.errors import Conflict, InvalidInput
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate, IncidentUpdate
from tocsin.incidents.rules import IncidentStatus
from tocsin.incidents.timeline import SYSTEM_ACTOR
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext

CHECKLISTS = """
checklists:
  - name: first-minutes
    title: First minutes
    role: commander
    severities: [SEV1, P1]
    items:
      - {text: Acknowledge the page, within: 5m, done_when: acknowledged}
      - {text: Create the incident channel, within: 2m, done_when: channel_created}
      - {text: Post the first status update, within: 10m, done_when: update_posted}
      - {text: Have a commander in charge, done_when: commander_assigned}
      - Assess the severity
  - name: comms
    role: comms_lead
    attach: assigned
    items:
      - {text: Put the incident on the status page, within: 10m, done_when: status_page_updated}
      - Send the first customer message
  - name: resolution
    role: commander
    required_to_resolve: {required}
    items:
      - The fix is in place
      - Service metrics are back to normal
  - name: handoff
    role: commander
    attach: handoff
    items:
      - Read the timeline
      - Get a briefing from the previous commander
"""

POLICY = (
    """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 1h,
     resolve_target: 1h, postmortem_required: true}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 1h,
     resolve_target: 4h}
  - {name: SEV3, respond_within: 1h, escalate_after: 2h, update_every: 2h, resolve_target: 1d}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
  - {name: carol, email: carol@example.com}
services:
  - {name: api, customer_facing: true, status_page: {component: API}}
  - {name: batch}
status_page:
  automation: {enabled: true, severities: [SEV1]}
"""
    + CHECKLISTS
)


def _policy(required: bool = True) -> str:
    return POLICY.replace("{required}", "true" if required else "false")


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(_policy(), encoding="utf-8")
    return path


class Harness(ChannelHarness):
    def __init__(
        self, context: AppContext, clock: FakeClock, environ: dict[str, str] | None = None
    ) -> None:
        super().__init__(context, clock, environ or {})

    def new(self, severity: str = "SEV1", service_name: str = "batch") -> str:
        with session_scope(self.context.sessions) as session:
            incident = service.declare(
                session=session,
                policy=self.context.policy.current,
                actor="bob",
                data=IncidentCreate(title="API down", severity=severity, services=[service_name]),
                now=self.clock.now(),
            )
            return f"INC-{incident.number}"

    def roles(self, ref: str, **roles: str | None) -> None:
        with session_scope(self.context.sessions) as session:
            service.edit(
                session=session,
                policy=self.context.policy.current,
                incident=service.get(session=session, ref=ref),
                actor="bob",
                changes=IncidentUpdate(roles=dict(roles)),
                now=self.clock.now(),
            )

    def items(self, ref: str) -> list[ChecklistItem]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = service.get(session=session, ref=ref)
            rows = checklists.items_of(session, incident.id)
            session.expunge_all()
            return rows

    def state(self, ref: str) -> dict[str, tuple[str, str | None]]:
        return {i.text: (i.state, i.settled_by) for i in self.items(ref)}

    def number(self, ref: str, text: str) -> int:
        return next(i.number for i in self.items(ref) if i.text == text)

    def settle(self, ref: str, text: str, actor: str = "alice", reason: str | None = None) -> None:
        with session_scope(self.context.sessions) as session:
            checklists.settle(
                session=session,
                incident=service.get(session=session, ref=ref),
                number=self.number(ref, text),
                actor=actor,
                now=self.clock.now(),
                skip_reason=reason,
            )

    def reminders(self) -> list[tuple[str, str]]:
        with session_scope(self.context.sessions, write=False) as session:
            query = select(Notification).where(Notification.kind == "reminder")
            rows = session.scalars(query.order_by(Notification.id))
            return [(n.person, n.subject) for n in rows if n.subject.startswith("Overdue")]


@pytest.fixture
def harness(app_context: AppContext, clock: FakeClock) -> Iterator[Harness]:
    h = Harness(app_context, clock)
    yield h
    h.delivery.shutdown()


def test_a_declared_incident_gets_the_lists_of_its_severity_with_due_times(
    harness: Harness,
) -> None:
    sev1 = harness.new("SEV1")
    sev3 = harness.new("SEV3")
    items = harness.items(sev1)
    assert [i.number for i in items] == list(range(1, len(items) + 1))
    assert {i.checklist for i in items} == {"first-minutes", "resolution"}
    due = {i.text: i.due_at for i in items}
    assert due["Create the incident channel"] == harness.when(2)
    assert due["Acknowledge the page"] == harness.when(5)
    assert due["Assess the severity"] is None
    # SEV3 is not one of the first list's severities; "P1" (an alias) means SEV2.
    assert {i.checklist for i in harness.items(sev3)} == {"resolution"}
    assert {i.checklist for i in harness.items(harness.new("SEV2"))} == {
        "first-minutes",
        "resolution",
    }


def test_events_tick_their_items_and_say_so_on_the_timeline(harness: Harness) -> None:
    ref = harness.new("SEV1", "api")  # on the status page at once (automation)
    harness.advance(1)
    harness.act(ref, "ack")
    harness.act(ref, "update")
    harness.roles(ref, commander="alice")
    state = harness.state(ref)
    assert state["Acknowledge the page"] == ("done", SYSTEM_ACTOR)
    assert state["Post the first status update"] == ("done", SYSTEM_ACTOR)
    assert state["Have a commander in charge"] == ("done", SYSTEM_ACTOR)
    assert state["Assess the severity"] == ("open", None)
    # The comms list comes with its role; the status page was published before it.
    harness.roles(ref, comms_lead="carol")
    state = harness.state(ref)
    assert state["Put the incident on the status page"] == ("done", SYSTEM_ACTOR)
    assert state["Send the first customer message"] == ("open", None)
    ticks = [s for k, s in harness.timeline(ref) if k == "checklist_ticked"]
    assert any(s.endswith("Acknowledge the page (acknowledged)") for s in ticks)
    assert len(ticks) == 4


def test_a_person_ticks_or_skips_with_a_reason_once(harness: Harness) -> None:
    ref = harness.new("SEV1")
    harness.settle(ref, "Assess the severity", actor="bob")
    with pytest.raises(Conflict, match="already done by bob"):
        harness.settle(ref, "Assess the severity", actor="alice")
    with pytest.raises(InvalidInput, match="reason"):
        harness.settle(ref, "The fix is in place", reason="  ")
    harness.settle(ref, "The fix is in place", actor="carol", reason="rolled back instead")
    items = {i.text: i for i in harness.items(ref)}
    assert (items["The fix is in place"].state, items["The fix is in place"].reason) == (
        "skipped",
        "rolled back instead",
    )
    timeline = harness.timeline(ref)
    assert (
        "checklist_skipped",
        f"Skipped {items['The fix is in place'].number}. The fix is in place: rolled back instead",
    ) in timeline
    assert sum(k == "checklist_ticked" for k, _ in timeline) == 1


def test_an_overdue_item_reminds_its_owner_once(harness: Harness) -> None:
    ref = harness.new("SEV1")
    harness.roles(ref, commander="alice")
    harness.at(1.9)
    assert harness.reminders() == []
    harness.at(2)  # the channel was due within 2 minutes and there is no chat set up
    assert harness.reminders() == [
        ("alice", f"Overdue on {ref}: 2. Create the incident channel"),
    ]
    harness.act(ref, "ack")  # before its 5 minutes: no reminder for it
    harness.at(60)
    assert harness.reminders() == [
        ("alice", f"Overdue on {ref}: 2. Create the incident channel"),
        ("alice", f"Overdue on {ref}: 3. Post the first status update"),
    ]
    overdue = [s for k, s in harness.timeline(ref) if k == "checklist_overdue"]
    assert overdue == [
        "Overdue: 2. Create the incident channel; reminded alice (commander)",
        "Overdue: 3. Post the first status update; reminded alice (commander)",
    ]


def test_an_item_whose_event_came_meanwhile_is_ticked_not_reminded(harness: Harness) -> None:
    ref = harness.new("SEV1")
    # The status page is changed out of band (no incident event): the deadline finds it.
    harness.roles(ref, comms_lead="carol")
    from tocsin.statuspage import service as statuspage
    from tocsin.statuspage.models import StatusIncidentCreate

    with session_scope(harness.context.sessions) as session:
        statuspage.create_incident(
            session=session,
            policy=harness.context.policy.current,
            actor="carol",
            data=StatusIncidentCreate(name="API errors", components={"API": "major_outage"}),
            now=harness.clock.now(),
            internal=service.get(session=session, ref=ref),
        )
    harness.at(11)
    assert harness.state(ref)["Put the incident on the status page"] == ("done", SYSTEM_ACTOR)
    assert all("status page" not in subject for _, subject in harness.reminders())


def test_nobody_to_remind_is_said_on_the_timeline(harness: Harness) -> None:
    ref = harness.new("SEV1")
    harness.at(2)
    assert harness.reminders() == []
    assert (
        "checklist_overdue",
        "Overdue: 2. Create the incident channel; nobody holds commander to remind",
    ) in harness.timeline(ref)


def test_a_new_commander_gets_the_handoff_list_once(harness: Harness) -> None:
    ref = harness.new("SEV1")
    harness.roles(ref, commander="alice")
    assert "handoff" not in {i.checklist for i in harness.items(ref)}
    harness.roles(ref, commander="bob")
    harness.roles(ref, commander="alice")  # back to the first holder: nothing new
    harness.roles(ref, commander="bob")
    handoff = [i for i in harness.items(ref) if i.checklist == "handoff"]
    assert [(i.scope, i.text) for i in handoff] == [
        ("bob", "Read the timeline"),
        ("bob", "Get a briefing from the previous commander"),
    ]


def test_a_required_list_holds_a_persons_resolve_back(harness: Harness) -> None:
    ref = harness.new("SEV2")
    fix, metrics = (
        harness.number(ref, "The fix is in place"),
        harness.number(ref, "Service metrics are back to normal"),
    )
    with pytest.raises(Conflict) as refused:
        harness.act(ref, "resolve")
    assert str(refused.value) == (
        f"{ref} cannot be resolved yet: the Resolution checklist has 2 open items: "
        f"{fix}. The fix is in place; {metrics}. Service metrics are back to normal. "
        f"Tick each one (tocsin task done {ref} N) or skip it with a reason first."
    )
    with session_scope(harness.context.sessions, write=False) as session:
        assert service.get(session=session, ref=ref).status == "triggered"
    harness.settle(ref, "The fix is in place")
    harness.settle(ref, "Service metrics are back to normal", reason="no metrics for batch")
    harness.act(ref, "resolve")
    with session_scope(harness.context.sessions, write=False) as session:
        assert service.get(session=session, ref=ref).status == "resolved"


def test_tocsin_itself_resolves_without_waiting_for_the_list(harness: Harness) -> None:
    ref = harness.new("SEV2")
    with session_scope(harness.context.sessions) as session:
        service.transition(
            session=session,
            policy=harness.context.policy.current,
            incident=service.get(session=session, ref=ref),
            actor=SYSTEM_ACTOR,
            target=IncidentStatus.resolved,
            now=harness.clock.now(),
        )
        assert service.get(session=session, ref=ref).status == "resolved"


def test_without_the_switch_resolving_is_not_held(harness: Harness) -> None:
    path = harness.context.policy.path
    assert path is not None
    path.write_text(_policy(required=False), encoding="utf-8")
    harness.context.policy.reload()
    ref = harness.new("SEV2")
    harness.act(ref, "resolve")
    assert {i.state for i in harness.items(ref) if i.checklist == "resolution"} == {"open"}


def test_the_postmortem_draft_shows_the_lists(harness: Harness) -> None:
    from tocsin.postmortems import service as postmortems

    ref = harness.new("SEV1")
    harness.act(ref, "ack")
    harness.settle(ref, "The fix is in place")
    harness.settle(ref, "Service metrics are back to normal", reason="seen on the dashboard")
    harness.act(ref, "resolve")
    with session_scope(harness.context.sessions, write=False) as session:
        incident = service.get(session=session, ref=ref)
        pm = postmortems.get_by_incident(session=session, incident=incident)
        document = postmortems.to_read(
            session=session, policy=harness.context.policy.current, pm=pm, now=harness.clock.now()
        ).markdown
    assert "**First minutes** (commander): 1 done, 0 skipped, 4 open" in document
    assert "- [x] 1. Acknowledge the page (tocsin, " in document
    assert "~~Service metrics are back to normal~~ skipped by alice: seen on the dashboard" in (
        document
    )
    assert "- [ ] 4. Have a commander in charge" in document


# ---------------------------------------------------------------- the chat channel

SLACK = """
channels:
  slack:
    type: slack
    token_env: TOCSIN_TEST_SLACK_TOKEN
    base_url: "{base_url}"
    incident_channel_min_severity: SEV1
    concurrency: 1
notification_rules:
  "*":
    - kinds: [reminder]
      notify: [{channel: slack}]
"""


def test_the_chat_channel_ticks_its_item_and_a_reminder_has_a_done_button(
    app_context: AppContext, clock: FakeClock
) -> None:
    with SlackApi(token="xoxb-test") as api:
        path = app_context.policy.path
        assert path is not None
        text = _policy().replace(
            "{name: alice, email: alice@example.com}",
            "{name: alice, email: alice@example.com, slack: U0ALICE01}",
        )
        path.write_text(text + SLACK.replace("{base_url}", api.base_url), encoding="utf-8")
        app_context.policy.reload()
        harness = Harness(app_context, clock, {"TOCSIN_TEST_SLACK_TOKEN": "xoxb-test"})
        try:
            ref = harness.new("SEV1")
            harness.roles(ref, commander="alice")
            assert harness.state(ref)["Create the incident channel"] == ("open", None)
            harness.at(1)
            assert "conversations.create" in [c.method for c in api.calls]
            channel = next(i for i in harness.items(ref) if i.text == "Create the incident channel")
            assert (channel.state, channel.settled_by) == ("done", SYSTEM_ACTOR)
            assert channel.settled_at is not None and channel.settled_at <= harness.when(1)

            harness.at(6)  # "Acknowledge the page" was due within 5 minutes
            dms = [
                c.params
                for c in api.calls
                if c.method == "chat.postMessage" and c.params.get("channel") == "U0ALICE01"
            ]
            assert len(dms) == 1
            assert dms[0]["text"].startswith(f"Overdue on {ref}: 1. Acknowledge the page")
            buttons = [
                (e["action_id"], e["value"])
                for block in dms[0]["blocks"]
                if block["type"] == "actions"
                for e in block["elements"]
            ]
            assert buttons[0] == ("tocsin_task_done", f"{ref}/1")
        finally:
            harness.delivery.shutdown()


# ---------------------------------------------------------------- many at once


def test_many_incidents_at_once_each_get_their_lists_once_and_reminders_fire_once(
    harness: Harness,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    count = 40
    with ThreadPoolExecutor(max_workers=8) as pool:
        refs = list(pool.map(lambda _: harness.new("SEV1"), range(count)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda r: harness.roles(r, commander="alice"), refs))
    with session_scope(harness.context.sessions, write=False) as session:
        per_incident = session.execute(
            select(ChecklistItem.incident_id, func.count()).group_by(ChecklistItem.incident_id)
        ).all()
        assert len(per_incident) == count
        assert {n for _, n in per_incident} == {7}  # 5 first minutes + 2 resolution
        timers = session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "checklist_due")
        )
        assert timers == 3 * count
    # Two engine workers take the deadlines at once, as two `tocsin worker`s would.
    harness.clock.set(harness.when(30))
    second = Worker(
        sessions=harness.context.sessions, policy=harness.context.policy, clock=harness.clock
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        handled = sum(pool.map(lambda worker: worker.run_due(), [harness.jobs, second]))
    assert handled >= 3 * count
    subjects = [s for _, s in harness.reminders()]
    assert len(subjects) == 3 * count
    assert len(set(subjects)) == len(subjects)
    assert {p for p, _ in harness.reminders()} == {"alice"}
