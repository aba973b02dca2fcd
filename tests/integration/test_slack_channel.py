"""The Slack channel through the delivery worker, with the real ``slack_sdk`` client
against a local server speaking Slack's Web API (``tests/support/slack_api.py``).

The tests assert the exact API calls: an incident at or above the threshold gets
``conversations.create``, its Block Kit summary (``chat.postMessage``) pinned
(``pins.add``), its responders invited (``conversations.invite``), then one
``chat.postMessage`` per update and for the resolution with the summary kept up to date
(``chat.update``). Failures (a 500, a dropped connection, a 429) delay the work and never
make a second channel, summary or pin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.delivery_harness import ChannelHarness
from tests.support.slack_api import SlackApi

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.incidents.models import IncidentUpdate, StatusUpdateCreate
from tocsin.notify.models import Delivery, Notification
from tocsin.notify.refs import find_ref, find_subject, incident_subject
from tocsin.web.context import AppContext

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TOKEN = "xoxb-test-token"
ENV = {"TOCSIN_TEST_SLACK_TOKEN": TOKEN}
ALICE, BOB = "U0ALICE01", "U0BOB0001"

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m, resolve_target: 1h}
  - {name: SEV2, respond_within: 15m, escalate_after: 30m, update_every: 30m, resolve_target: 4h}
  - {name: SEV3, respond_within: 1h, escalate_after: 2h, update_every: 2h, resolve_target: 1d}
people:
  - {name: alice, full_name: Alice Anders, slack: U0ALICE01}
  - {name: bob, full_name: Bob Baker, slack: U0BOB0001}
  - {name: carol, full_name: Carol Chen}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}, {person: carol}]}
services:
  - {name: api, escalation_policy: main}
channels:
  slack:
    type: slack
    token_env: TOCSIN_TEST_SLACK_TOKEN
    base_url: "{base_url}"
    incident_channel_min_severity: SEV2
    concurrency: 1
    retry: {max_attempts: 5, backoff: 10s, max_backoff: 1m}
    {extra}
notification_rules:
  "*":
    - kinds: [page]
      notify: [{channel: slack}]
"""


class Harness(ChannelHarness):
    def __init__(self, context: AppContext, clock: FakeClock, api: SlackApi) -> None:
        super().__init__(context, clock, ENV)
        self.api = api

    def configure(self, extra: str = "") -> None:
        path = self.context.policy.path
        assert path is not None
        text = POLICY.replace("{base_url}", self.api.base_url).replace("{extra}", extra)
        path.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def declare(self, severity: str = "SEV2", title: str = "Checkout API 5xx") -> str:
        return super().declare(severity, title)

    def update(self, ref: str, message: str) -> None:
        with session_scope(self.context.sessions) as session:
            service.post_update(
                session=session,
                policy=self.context.policy.current,
                incident=service.get(session=session, ref=ref),
                actor="alice",
                data=StatusUpdateCreate(message=message, status="identified"),
                now=self.clock.now(),
            )

    def acknowledge(self, ref: str) -> None:
        self.act(ref, "ack")

    def resolve(self, ref: str) -> None:
        self.act(ref, "resolve")

    def refs(self, ref: str) -> dict[str, str]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = service.get(session=session, ref=ref)
            found = {}
            for kind in ("channel", "summary", "channel_name"):
                row = find_ref(
                    session=session,
                    system="slack",
                    kind=kind,
                    subject=incident_subject(incident.id),
                )
                if row is not None:
                    found[kind] = row.external_id
            return found

    def slack_deliveries(self) -> list[Delivery]:
        return self.deliveries("slack")


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    with SlackApi(token=TOKEN) as api:
        yield api


@pytest.fixture
def harness(app_context: AppContext, clock: FakeClock, slack_api: SlackApi) -> Iterator[Harness]:
    h = Harness(app_context, clock, slack_api)
    h.configure()
    yield h
    h.delivery.shutdown()


def _channel_calls(api: SlackApi) -> list[tuple[str, dict[str, Any]]]:
    """The calls made for the incident channel (DM pages go to member ids)."""
    return [
        (c.method, c.params)
        for c in api.calls
        if not str(c.params.get("channel", "")).startswith("U") and c.method != "conversations.open"
    ]


def _action_ids(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [
        element["action_id"]
        for block in blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_incident_channel_from_declaration_to_resolution(
    harness: Harness, slack_api: SlackApi
) -> None:
    ref = harness.declare()
    harness.advance(1)

    calls = _channel_calls(slack_api)
    assert [m for m, _ in calls] == [
        "conversations.create",
        "chat.postMessage",
        "pins.add",
        "conversations.invite",
    ]
    assert calls[0][1]["name"] == "incident-2026-03-02-checkout-api-5xx"
    channel = slack_api.channel_named("incident-2026-03-02-checkout-api-5xx")
    assert channel is not None
    summary = calls[1][1]
    assert summary["channel"] == channel.id
    assert _action_ids(summary["blocks"]) == ["tocsin_acknowledge", "tocsin_resolve"]
    header = summary["blocks"][0]["text"]["text"]
    assert header == f"{ref}: Checkout API 5xx"
    fields = " ".join(f["text"] for f in summary["blocks"][1]["fields"])
    assert "SEV2" in fields and "triggered" in fields and "api" in fields
    assert channel.pins == [channel.messages[0]["ts"]]
    # alice was paged (tier 1); carol was too but has no Slack id
    assert calls[3][1]["users"] == ALICE
    assert all(c.authorization == f"Bearer {TOKEN}" for c in slack_api.calls)
    assert harness.refs(ref) == {
        "channel": channel.id,
        "summary": channel.messages[0]["ts"],
        "channel_name": "incident-2026-03-02-checkout-api-5xx",
    }
    with session_scope(harness.context.sessions, write=False) as session:
        subject = find_subject(
            session=session, system="slack", kind="channel", external_id=channel.id
        )
        assert subject == incident_subject(service.get(session=session, ref=ref).id)

    # alice's page went to her DM, with the buttons
    dm = [c for c in slack_api.calls_of("chat.postMessage") if c.params["channel"] == ALICE]
    assert len(dm) == 1
    assert _action_ids(dm[0].params["blocks"]) == ["tocsin_acknowledge", "tocsin_resolve"]

    before = len(slack_api.calls)
    harness.acknowledge(ref)
    harness.advance(1)
    after_ack = [(c.method, c.params) for c in slack_api.calls[before:]]
    assert [m for m, _ in after_ack] == ["chat.postMessage", "chat.update"]
    assert after_ack[0][1]["text"] == "Acknowledged by alice (acknowledged)"
    assert _action_ids(after_ack[1][1]["blocks"]) == ["tocsin_resolve"]

    before = len(slack_api.calls)
    harness.update(ref, "Bad deploy 4711, rolling back")
    harness.advance(1)
    after_update = [(c.method, c.params) for c in slack_api.calls[before:]]
    assert [m for m, _ in after_update] == ["chat.postMessage", "chat.update"]
    assert after_update[0][1]["channel"] == channel.id
    assert "Bad deploy 4711, rolling back" in after_update[0][1]["text"]
    assert after_update[1][1]["ts"] == channel.messages[0]["ts"]
    assert "identified" in str(after_update[1][1]["blocks"])

    before = len(slack_api.calls)
    harness.resolve(ref)
    harness.advance(1)
    after_resolve = [(c.method, c.params) for c in slack_api.calls[before:]]
    assert [m for m, _ in after_resolve] == ["chat.postMessage", "chat.update"]
    assert "Resolved" in after_resolve[0][1]["text"]
    assert _action_ids(after_resolve[1][1]["blocks"]) == []  # no buttons once resolved
    assert [m["text"] for m in channel.messages[1:]] == [
        "Acknowledged by alice (acknowledged)",
        "*Update* (identified) from alice: Bad deploy 4711, rolling back",
        ":white_check_mark: *Resolved* by alice",
    ]
    assert all(d.state == "sent" for d in harness.slack_deliveries() if not d.person)


def test_a_retry_after_a_failure_makes_no_second_channel_or_pin(
    harness: Harness, slack_api: SlackApi
) -> None:
    slack_api.fail("pins.add", status=500)
    ref = harness.declare(severity="SEV1")
    harness.advance(5)

    assert slack_api.methods().count("conversations.create") == 1
    calls = [m for m, _ in _channel_calls(slack_api)]
    assert calls == [
        "conversations.create",
        "chat.postMessage",
        "pins.add",  # 500
        "pins.add",  # the retry goes on where the first attempt stopped
        "conversations.invite",
    ]
    channel = slack_api.channel_named("incident-2026-03-02-checkout-api-5xx")
    assert channel is not None
    assert len(channel.messages) == 1 and channel.pins == [channel.messages[0]["ts"]]
    assert harness.refs(ref)["channel"] == channel.id


def test_a_lost_answer_is_resent_without_a_second_channel_or_summary(
    harness: Harness, slack_api: SlackApi
) -> None:
    slack_api.drop("conversations.create")  # made, but the answer never arrives
    slack_api.drop("chat.postMessage")  # posted, but the answer never arrives
    harness.declare()
    harness.advance(5)

    channels = [c for c in slack_api.channels.values() if c.name.startswith("incident-")]
    assert len(channels) == 1
    channel = channels[0]
    assert len(channel.messages) == 1  # the summary, once
    assert channel.pins == [channel.messages[0]["ts"]]
    assert slack_api.methods().count("conversations.create") == 2  # the second: name_taken
    assert "conversations.history" in slack_api.methods()  # looked for the first copy
    opening = [d for d in harness.slack_deliveries() if d.target == f"#{channel.name}"]
    assert [d.state for d in opening] == ["sent"]


@SQLITE_ONLY
def test_rate_limited_by_slack_waits_for_retry_after(
    harness: Harness, slack_api: SlackApi, clock: FakeClock
) -> None:
    slack_api.fail("conversations.create", status=429, retry_after=42)
    harness.declare()
    harness.delivery.run_due()

    with session_scope(harness.context.sessions, write=False) as session:
        pending = list(session.scalars(select(Notification).where(Notification.state == "pending")))
    opening = next(n for n in pending if n.channel == "slack" and n.person == "")
    assert "rate-limited by the receiver: retry after 42s" in (opening.delay_reason or "")
    assert slack_api.methods().count("conversations.create") == 1

    harness.advance(1)
    assert slack_api.methods().count("conversations.create") == 2
    assert len([c for c in slack_api.channels.values() if c.name.startswith("incident-")]) == 1
    assert all(d.state == "sent" for d in harness.slack_deliveries() if not d.person)


@SQLITE_ONLY
def test_below_the_threshold_no_channel(harness: Harness, slack_api: SlackApi) -> None:
    ref = harness.declare(severity="SEV3")
    harness.advance(1)
    assert "conversations.create" not in slack_api.methods()
    assert harness.refs(ref) == {}


def test_raised_severity_opens_the_channel_and_names_stay_unique(
    harness: Harness, slack_api: SlackApi
) -> None:
    first = harness.declare(severity="SEV1")
    second = harness.declare(severity="SEV3")
    with session_scope(harness.context.sessions) as session:
        service.edit(
            session=session,
            policy=harness.context.policy.current,
            incident=service.get(session=session, ref=second),
            actor="alice",
            changes=IncidentUpdate(severity="SEV2"),
            now=harness.clock.now(),
        )
    harness.advance(1)
    assert harness.refs(first)["channel_name"] == "incident-2026-03-02-checkout-api-5xx"
    assert harness.refs(second)["channel_name"] == "incident-2026-03-02-checkout-api-5xx-2"
    names = [c.params["name"] for c in slack_api.calls_of("conversations.create")]
    assert sorted(names) == [
        "incident-2026-03-02-checkout-api-5xx",
        "incident-2026-03-02-checkout-api-5xx-2",
    ]


@SQLITE_ONLY
def test_new_channels_are_announced_in_the_broadcast_channel(
    harness: Harness, slack_api: SlackApi
) -> None:
    incidents = slack_api.add_channel("incidents")
    harness.configure(extra='broadcast_channel: "#incidents"')
    harness.declare()
    harness.advance(1)
    channel = slack_api.channel_named("incident-2026-03-02-checkout-api-5xx")
    assert channel is not None
    assert [m["text"] for m in incidents.messages] == [
        f"[SEV2] INC-1: Checkout API 5xx (triggered): join <#{channel.id}>"
    ]


@SQLITE_ONLY
def test_without_the_token_slack_is_skipped_and_pages_go_to_the_console(
    harness: Harness, slack_api: SlackApi
) -> None:
    harness.delivery.environ = {}
    ref = harness.declare()
    harness.advance(1)
    assert harness.slack_deliveries() == []  # no attempt, no failure on slack
    console = [d for d in harness.deliveries("console") if d.person == "alice"]
    assert [d.state for d in console] == ["sent"]  # alice's page reached her there
    assert not [k for k, _ in harness.timeline(ref) if k == "notification_failed"]
    assert slack_api.calls == []
