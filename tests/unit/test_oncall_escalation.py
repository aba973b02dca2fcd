"""Escalation decisions over the example policy: steps, policy choice, targets,
the stakeholder matrix and commander assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.oncall import (
    Override,
    choose_commander,
    choose_escalation_policy,
    escalation_step,
    resolve_targets,
    stakeholder_steps,
)
from tocsin.policy import Policy, UnknownSeverity, example_policy_text, parse_policy
from tocsin.policy.oncall import EscalationPolicy, Target

M = timedelta(minutes=1)
EXAMPLE = parse_policy(example_policy_text())
# Wednesday 2026-03-04 10:00 in Los Angeles (PST), 18:00 UTC. Turn 8 of both weekly
# rotations (8 weeks after Mon 2026-01-05 / Tue 2026-01-06): primary charlie
# ([alice, bob, charlie][8 % 3]), secondary bob ([charlie, alice, bob][8 % 3]); the IC
# rotation has alice (Mon-Wed 09:00-17:00 local).
WEDNESDAY = datetime(2026, 3, 4, 18, tzinfo=UTC)


def policy_named(name: str, policy: Policy = EXAMPLE) -> EscalationPolicy:
    found = policy.escalation_policy(name)
    assert found is not None
    return found


def test_escalation_steps_over_four_tiers_and_two_repeats() -> None:
    seed = policy_named("default")
    assert [t.timeout for t in seed.tiers] == [15 * M, 30 * M, 45 * M, 60 * M]
    assert seed.repeat == 2
    steps = [escalation_step(seed, n) for n in range(12)]
    assert [(s.number, s.round, s.tier_index, s.timeout) for s in steps if s] == [
        (n, n // 4, n % 4, [15 * M, 30 * M, 45 * M, 60 * M][n % 4]) for n in range(12)
    ]
    assert all(s is not None and s.tier is seed.tiers[s.tier_index] for s in steps)
    assert escalation_step(seed, 12) is None
    with pytest.raises(ValueError):
        escalation_step(seed, -1)
    once = policy_named("sev1").model_copy(update={"repeat": 0})
    assert escalation_step(once, 2) is not None
    assert escalation_step(once, 3) is None


@pytest.mark.parametrize(
    ("service", "severity", "expected"),
    [
        ("checkout-api", "SEV2", "payments"),
        ("checkout-api", "P0", "sev1"),  # payments overrides P0, an alias of SEV1
        ("checkout-api", "critical", "sev1"),
        ("auth-service", "sev1", "sev1"),  # default overrides SEV1
        ("auth-service", "SEV3", "default"),
        ("no-such-service", "SEV2", "default"),
        (None, "low", "default"),
    ],
)
def test_choose_escalation_policy(service: str | None, severity: str, expected: str) -> None:
    chosen = choose_escalation_policy(EXAMPLE, service=service, severity=severity)
    assert chosen is not None and chosen.name == expected


def test_choose_escalation_policy_without_default() -> None:
    text = example_policy_text().replace("  - name: default\n", "  - name: standard\n")
    text = text.replace("escalation_policy: default", "escalation_policy: standard")
    policy = parse_policy(text)
    assert choose_escalation_policy(policy, service=None, severity="SEV2") is None
    assert policy_named("standard", policy).name == "standard"
    with pytest.raises(UnknownSeverity):
        choose_escalation_policy(EXAMPLE, service=None, severity="SEV9")


def test_resolve_targets_schedule_person_team() -> None:
    targets = [
        Target(schedule="platform-primary"),
        Target(person="erin"),
        Target(team="payments"),
        Target(person="charlie"),  # already reached through the schedule
    ]
    assert resolve_targets(EXAMPLE, targets, WEDNESDAY, {}) == ["charlie", "erin", "bob"]
    covered = {"platform-primary": [Override("dana", WEDNESDAY, WEDNESDAY + 60 * M)]}
    assert resolve_targets(EXAMPLE, targets[:1], WEDNESDAY, covered) == ["dana"]
    assert resolve_targets(EXAMPLE, targets[:1], datetime(2025, 1, 1, tzinfo=UTC), {}) == []


def test_stakeholder_matrix_seed_004() -> None:
    sev1 = stakeholder_steps(EXAMPLE, "P0")
    assert [(s.after, [t.name for t in s.notify]) for s in sev1] == [
        (0 * M, ["platform-primary", "erin"]),
        (15 * M, ["vp-eng"]),
        (30 * M, ["cto"]),
        (60 * M, ["ceo"]),
    ]
    sev2 = stakeholder_steps(EXAMPLE, "SEV2")
    assert [(s.after, s.notify[0].name) for s in sev2] == [
        (0 * M, "platform-primary"),
        (15 * M, "erin"),
        (30 * M, "vp-eng"),
    ]
    assert [s.after for s in stakeholder_steps(EXAMPLE, "medium")] == [0 * M, 15 * M]
    assert stakeholder_steps(EXAMPLE, "SEV4") == []


def commander(
    policy: Policy = EXAMPLE,
    *,
    rank: int = 2,
    tags: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
) -> tuple[str | None, str]:
    return choose_commander(
        policy,
        severity_rank=rank,
        tags=tags,
        services=services,
        at=WEDNESDAY,
        overrides_by_schedule={},
    )


def test_commander_security_lead_senior_and_primary() -> None:
    person, reason = commander(rank=1, tags=("security", "database"))
    assert (person, reason) == ("dana", "tagged security: the security lead")
    person, reason = commander(rank=1, tags=("database",))
    assert person == "bob"
    assert "senior" in reason and "platform-secondary" in reason
    person, reason = commander(rank=2, tags=("database",))
    assert person == "alice"
    assert "primary" in reason and "ic-rotation" in reason


def test_commander_tie_broken_by_expertise() -> None:
    # Without primary_schedule, the primary on call is the first tier of the affected
    # services' policies: for checkout-api that is the payments team (bob and erin).
    text = example_policy_text().replace("  primary_schedule: ic-rotation\n", "")
    policy = parse_policy(text)
    person, reason = commander(policy, tags=("api",), services=("checkout-api",))
    assert person == "bob"
    assert reason.endswith("chosen over erin (expertise in api)")
    person, reason = commander(policy, tags=("backend", "db"), services=("checkout-api",))
    assert person == "erin"
    assert reason.endswith("chosen over bob (expertise in backend)")
    person, _ = commander(policy, tags=("payments",), services=("payments-db",))
    assert person == "erin"
    # Nothing matches: the first listed wins, and the reason says so.
    person, reason = commander(policy, tags=("dns",), services=("payments-db",))
    assert person == "bob"
    assert "no expertise match" in reason


def test_commander_when_nobody_is_on_call() -> None:
    text = example_policy_text().replace("2026-01-06T09:00", "2027-01-05T09:00")
    policy = parse_policy(text)  # the secondary only starts in 2027
    person, reason = commander(policy, rank=1)
    assert person == "alice"
    assert reason.startswith("nobody is on call in platform-secondary; the primary")


def test_commander_falls_back_to_the_first_tier() -> None:
    # Nobody is on call in the IC rotation before 2027: the first tier of the service's
    # policy (the payments team, bob and erin) supplies the commander.
    text = example_policy_text().replace("2026-01-05T00:00", "2027-01-04T00:00")
    person, reason = commander(parse_policy(text), tags=("payments",), services=("checkout-api",))
    assert person == "erin"
    assert reason == (
        "nobody is on call in ic-rotation; the primary on call (first escalation tier); "
        "chosen over bob (expertise in payments)"
    )
    person, reason = commander(parse_policy(text), services=("no-such-service",))
    assert person == "charlie"  # the default policy's first tier: platform-primary
