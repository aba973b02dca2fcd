"""Pure delivery decisions: who gets what (notification rules, broadcasts), backoff,
rate limits and a notification's summed-up state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.notify.rules import (
    backoff,
    plan_broadcasts,
    plan_steps,
    rate_limit_text,
    summarize,
    throttled_until,
)
from tocsin.policy import Policy, PolicyError, example_policy_text, parse_policy
from tocsin.policy.channels import RateLimit, RetrySettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

POLICY = """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 1h}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
teams:
  - {name: platform, members: [alice]}
  - {name: payments, members: [bob]}
services:
  - {name: api, team: platform}
  - {name: db, team: payments}
  - {name: docs}
notification_rules:
  alice:
    - severities: [P0]
      kinds: [page]
      notify:
        - {channel: slack}
        - {channel: sms}
        - {channel: email, after: 2m}
    - kinds: [stakeholder]
      notify: [{channel: email, after: 5m, unless: never}]
  "*":
    - severities: [SEV1]
      notify: [{channel: sms}]
broadcasts:
  - name: incidents
    severities: [SEV1, SEV2]
    to:
      - {channel: slack, target: "#incidents"}
      - {channel: pagerduty}
  - name: team
    events: {declared: initial_announcement}
    to: [{channel: slack, target: "#team-{team}"}]
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY)


def steps(policy: Policy, person: str, kind: str, severity: str | None) -> list[tuple[str, int]]:
    return [
        (s.channel, int(s.after.total_seconds()))
        for s in plan_steps(policy, person=person, kind=kind, severity=severity)
    ]


def test_the_first_matching_rule_of_the_person_applies(policy: Policy) -> None:
    assert steps(policy, "alice", "page", "SEV1") == [("slack", 0), ("sms", 0), ("email", 120)]
    assert steps(policy, "alice", "page", "p0") == [("slack", 0), ("sms", 0), ("email", 120)]
    assert steps(policy, "alice", "stakeholder", "SEV2") == [("email", 300)]


def test_then_the_star_rules_then_email_at_once(policy: Policy) -> None:
    assert steps(policy, "alice", "page", "SEV2") == [("email", 0)]  # no rule of hers matches
    assert steps(policy, "bob", "page", "SEV1") == [("sms", 0)]
    assert steps(policy, "bob", "handoff", None) == [("email", 0)]


def test_only_delayed_steps_can_be_skipped(policy: Policy) -> None:
    planned = plan_steps(policy, person="alice", kind="page", severity="SEV1")
    assert [s.unless for s in planned] == [None, None, "acknowledged"]
    [stakeholder] = plan_steps(policy, person="alice", kind="stakeholder", severity="SEV1")
    assert stakeholder.unless == "never"


def test_broadcasts_by_severity_event_and_team(policy: Policy) -> None:
    planned = plan_broadcasts(policy, event="declared", severity="P0", services=["api", "db"])
    assert [(p.broadcast, p.channel, p.target, p.template) for p in planned] == [
        ("incidents", "slack", "#incidents", "initial_announcement"),
        ("incidents", "pagerduty", None, "initial_announcement"),
        ("team", "slack", "#team-payments", "initial_announcement"),
        ("team", "slack", "#team-platform", "initial_announcement"),
    ]
    resolved = plan_broadcasts(policy, event="resolved", severity="SEV2", services=["api"])
    assert [(p.broadcast, p.template) for p in resolved] == [
        ("incidents", "resolution"),
        ("incidents", "resolution"),
    ]
    assert plan_broadcasts(policy, event="acknowledged", severity="SEV1", services=[]) == []
    [orphan] = plan_broadcasts(policy, event="declared", severity="SEV3x", services=["docs"])
    assert orphan.problem is not None and "needs a team" in orphan.problem


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    retry = RetrySettings(backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=1))
    low = [backoff(n, retry, lambda: 0.0).total_seconds() for n in range(1, 6)]
    high = [backoff(n, retry, lambda: 0.999999).total_seconds() for n in range(1, 6)]
    assert low == [5, 10, 20, 30, 30]
    assert [round(h) for h in high] == [10, 20, 40, 60, 60]


def test_a_rate_limit_delays_until_the_oldest_send_leaves_the_window() -> None:
    limit = RateLimit(count=5, per=timedelta(minutes=15))
    sends = [T0 + timedelta(minutes=m) for m in range(5)]
    assert throttled_until(limit, sends[:4], T0 + timedelta(minutes=5)) is None
    assert throttled_until(limit, sends, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=15)
    assert throttled_until(limit, sends, T0 + timedelta(minutes=15)) is None
    old = [T0 - timedelta(hours=1)] * 10
    assert throttled_until(limit, old, T0) is None
    assert rate_limit_text(limit, "sms") == "throttled: 5 sms in 15m"
    assert rate_limit_text(limit, "sms", "alice") == "throttled: 5 sms to alice in 15m"


def test_a_notification_state_sums_up_its_deliveries() -> None:
    assert summarize(["sent", "pending"]) == "pending"
    assert summarize(["sending", "pending"]) == "sending"
    assert summarize(["sent", "failed", "cancelled"]) == "sent"
    assert summarize(["failed", "cancelled"]) == "failed"
    assert summarize(["cancelled"]) == "cancelled"


def test_the_example_policy_carries_the_seeds_routing() -> None:
    policy = parse_policy(example_policy_text())
    routes = {
        severity: sorted(
            {
                (p.channel, p.target)
                for p in plan_broadcasts(
                    policy, event="declared", severity=severity, services=["checkout-api"]
                )
            },
            key=str,
        )
        for severity in ("P0", "P1", "P2", "P3")
    }
    assert routes["P0"] == [("pagerduty", None), ("slack", "#incidents")]
    assert routes["P1"] == [("pagerduty", None), ("slack", "#incidents")]
    assert routes["P2"] == [("slack", "#incidents")]
    assert routes["P3"] == [("jira", None), ("slack", "#team-payments")]
    sev1 = plan_steps(policy, person="alice", kind="page", severity="P0")
    assert [s.channel for s in sev1 if not s.after] == ["sms", "voice", "slack"]
    p2 = plan_steps(policy, person="alice", kind="page", severity="P2")
    assert [s.channel for s in p2] == ["email"]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("notification_rules:\n  mallory:\n    - notify: [{channel: email}]\n", "unknown person"),
        (
            "notification_rules:\n  '*':\n    - severities: [SEV9]\n      notify: [{channel: x}]\n",
            "unknown severity 'SEV9'",
        ),
        (
            "broadcasts:\n  - name: b\n    events: {declared: nope}\n    to: [{channel: x}]\n",
            "unknown template 'nope'",
        ),
        ("channels:\n  mail: {type: email, host: h}\n", "required key is missing"),
        ("channels:\n  mail: {type: carrier-pigeon}\n", "carrier-pigeon"),
        (
            "channels:\n  hook: {type: webhook, url: 'ftp://x', secret_env: 'not a name'}\n",
            "secret_env",
        ),
    ],
)
def test_bad_delivery_sections_are_refused(snippet: str, message: str) -> None:
    base = POLICY.split("notification_rules:")[0]
    with pytest.raises(PolicyError) as caught:
        parse_policy(base + snippet)
    assert message in str(caught.value)
