"""Policy warnings: each kind of silent misconfiguration, and none for the example."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.oncall import PolicyWarning, policy_warnings
from tocsin.policy import example_policy_text, parse_policy

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday

BASE = """\
severities:
  - name: SEV1
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
  - name: SEV2
    respond_within: 15m
    escalate_after: 30m
    update_every: 30m
    resolve_target: 2h
people:
  - name: alice
    email: alice@example.com
  - name: bob
    chat: "@bob"
teams:
  - name: ghosts
"""


@pytest.mark.parametrize("now", [NOW, datetime(2026, 11, 23, tzinfo=UTC)])
def test_example_policy_has_no_warnings(now: datetime) -> None:
    assert policy_warnings(parse_policy(example_policy_text()), now) == []


def test_service_without_escalation_policy() -> None:
    policy = parse_policy(BASE + "services:\n  - name: api\n")
    assert policy_warnings(policy, NOW) == [
        PolicyWarning(
            "services[0]",
            "service 'api' has no escalation_policy and there is no policy named "
            "'default': its incidents page nobody",
        )
    ]
    with_default = BASE + (
        "services:\n  - name: api\n"
        "escalation_policies:\n"
        "  - name: default\n"
        "    tiers: [{timeout: 5m, targets: [{person: alice}]}]\n"
    )
    assert policy_warnings(parse_policy(with_default), NOW) == []


def test_person_without_contact_method() -> None:
    assert policy_warnings(parse_policy(BASE), NOW) == []  # email or chat is enough
    text = BASE.replace("teams:", "  - name: carol\n    full_name: Carol\nteams:")
    assert policy_warnings(parse_policy(text), NOW) == [
        PolicyWarning(
            "people[2]",
            "person 'carol' has no contact method (email, phone or chat): "
            "pages to them reach nobody",
        )
    ]


def test_schedule_gap_and_tier_reaching_nobody() -> None:
    text = (
        BASE
        + """\
schedules:
  - name: office
    timezone: UTC
    layers:
      - name: days
        rotation: weekly
        start: "2026-01-05T00:00"
        participants: [alice]
        restrictions: [{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}]
  - name: nights
    timezone: UTC
    layers:
      - name: nights
        rotation: daily
        start: "2026-01-05T17:00"
        participants: [bob]
        restrictions: [{days: [mon, tue, wed, thu, fri, sat, sun], from: "17:00", to: "09:00"}]
escalation_policies:
  - name: default
    tiers:
      - timeout: 5m
        targets: [{schedule: office}, {team: ghosts}]
      - timeout: 5m
        targets: [{schedule: office}, {schedule: nights}]
      - timeout: 5m
        targets: [{team: ghosts}, {schedule: nights}, {person: bob}]
"""
    )
    warnings = policy_warnings(parse_policy(text), NOW)
    assert warnings == [
        PolicyWarning(
            "escalation_policies[0].tiers[0]",
            "tier 1 of 'default' reaches nobody from 2026-03-02T17:00:00Z "
            "(within the next 8 weeks)",
        ),
        PolicyWarning(
            "escalation_policies[0].tiers[1]",
            # office covers weekdays 09-17, nights every day 17-09: the first hole is
            # Saturday 09:00.
            "tier 2 of 'default' reaches nobody from 2026-03-07T09:00:00Z "
            "(within the next 8 weeks)",
        ),
        # 8 weeks from Monday 12:00 = 1344h; office covers 5h + 39 * 8h + 3h = 320h,
        # leaving 1024h (42d16h) in 40 gaps, one after each weekday's shift.
        PolicyWarning(
            "schedules[0]",
            "schedule 'office' has nobody on call from 2026-03-02T17:00:00Z "
            "(40 gap(s), 42d16h in total within the next 8 weeks)",
        ),
        # nights misses 09:00-17:00: 5h today, 55 whole days, 3h on the last: 448h.
        PolicyWarning(
            "schedules[1]",
            "schedule 'nights' has nobody on call from 2026-03-02T12:00:00Z "
            "(57 gap(s), 18d16h in total within the next 8 weeks)",
        ),
    ]


def test_first_tier_slower_than_the_response_target() -> None:
    # `slow` serves api's SEV1 (SEV2 goes to `fast`): 15m > SEV1's 5m. `batch` sends
    # SEV1 to `fast` and keeps SEV2, whose respond_within is 15m: not longer, no warning.
    text = (
        BASE
        + """\
services:
  - name: api
    escalation_policy: slow
  - name: batch
    escalation_policy: batch
escalation_policies:
  - name: slow
    tiers: [{timeout: 15m, targets: [{person: alice}]}]
    severity_overrides: {sev2: fast}
  - name: fast
    tiers: [{timeout: 5m, targets: [{person: alice}]}]
  - name: batch
    tiers: [{timeout: 15m, targets: [{person: alice}]}]
    severity_overrides: {P0: fast}
"""
    )
    text = text.replace("P0", "SEV1")
    assert policy_warnings(parse_policy(text), NOW) == [
        PolicyWarning(
            "escalation_policies[0].tiers[0].timeout",
            "the first tier of 'slow' waits 15m before escalating, longer than SEV1's "
            "respond_within (5m): the response target is missed before anyone else is paged",
        )
    ]
