"""The shipped example policy: loads cleanly and carries the seed values."""

from datetime import timedelta

import pytest

from tocsin.policy import (
    DEFAULT_ROLES,
    Policy,
    UnknownSeverity,
    example_policy_text,
    parse_policy,
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(example_policy_text(), "example.yaml")


M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("name", "rank", "respond", "escalate", "update", "resolve", "postmortem"),
    [
        ("SEV1", 1, 5 * M, 15 * M, 15 * M, 30 * M, True),
        ("SEV2", 2, 15 * M, 30 * M, 30 * M, 2 * H, True),
        ("SEV3", 3, 1 * H, 2 * H, 2 * H, 8 * H, False),
        ("SEV4", 4, 4 * H, 8 * H, 1 * D, 1 * D, False),
    ],
)
def test_severities_carry_seed_values(
    policy: Policy,
    name: str,
    rank: int,
    respond: timedelta,
    escalate: timedelta,
    update: timedelta,
    resolve: timedelta,
    postmortem: bool,
) -> None:
    severity = policy.severity(name)
    assert severity.name == name
    assert severity.rank == rank
    assert severity.respond_within == respond
    assert severity.escalate_after == escalate
    assert severity.update_every == update
    assert severity.resolve_target == resolve
    assert severity.postmortem_required is postmortem


def test_severities_are_ordered_worst_first(policy: Policy) -> None:
    assert [(s.name, s.rank) for s in policy.severities] == [
        ("SEV1", 1),
        ("SEV2", 2),
        ("SEV3", 3),
        ("SEV4", 4),
    ]


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("P0", "SEV1"),
        ("p0", "SEV1"),
        ("critical", "SEV1"),
        ("CRITICAL", "SEV1"),
        ("sev1_critical", "SEV1"),
        ("sev1", "SEV1"),
        ("high", "SEV2"),
        ("P1", "SEV2"),
        ("sev2_high", "SEV2"),
        ("Medium", "SEV3"),
        ("p2", "SEV3"),
        ("low", "SEV4"),
        ("P3", "SEV4"),
        (" sev4 ", "SEV4"),
    ],
)
def test_alias_resolution(policy: Policy, alias: str, name: str) -> None:
    assert policy.severity(alias).name == name


def test_unknown_severity_lists_the_valid_ones(policy: Policy) -> None:
    with pytest.raises(UnknownSeverity) as caught:
        policy.severity("sev9")
    assert str(caught.value) == (
        "unknown severity 'sev9'; valid: SEV1 (P0, critical, sev1_critical), "
        "SEV2 (P1, high, sev2_high), SEV3 (P2, medium, sev3_medium), SEV4 (P3, low, sev4_low)"
    )
    assert isinstance(caught.value, ValueError)
    assert policy.severity_choices() in str(caught.value)


def test_roles_people_teams_services(policy: Policy) -> None:
    assert [r.name for r in policy.roles] == [r.name for r in DEFAULT_ROLES]
    commander = policy.role("commander")
    assert commander is not None and commander.label == "Incident commander"
    sme = policy.role("sme")
    assert sme is not None and sme.multiple
    assert policy.role("janitor") is None

    alice = policy.person("alice")
    assert alice is not None
    assert alice.expertise == ("backend", "database", "infrastructure")
    assert alice.timezone == "America/Los_Angeles"
    bob, charlie = policy.person("bob"), policy.person("charlie")
    assert bob is not None and bob.expertise == ("frontend", "api", "performance")
    assert charlie is not None and charlie.expertise == ("infrastructure", "security", "networking")
    assert {"dana", "erin"} <= {p.name for p in policy.people}
    assert policy.person("mallory") is None

    assert {t.name for t in policy.teams} == {"platform", "payments"}

    checkout = policy.service("checkout-api")
    assert checkout is not None
    assert checkout.customer_facing and checkout.tier == 1
    assert checkout.status_page is not None and checkout.status_page.component == "Checkout"
    assert "payments-db" in checkout.depends_on
    db = policy.service("payments-db")
    assert db is not None and db.status_page is None
    assert policy.service("web-frontend") is not None
    assert policy.service("auth-service") is not None
    assert policy.service("nope") is None


def test_tagging_rules_from_seed(policy: Policy) -> None:
    assert {rule.tag: rule.keywords for rule in policy.tagging} == {
        "database": ("database", "db", "sql"),
        "network": ("network", "connectivity", "dns"),
        "infrastructure": ("memory", "cpu", "disk", "resource"),
        "api": ("api", "endpoint", "service"),
    }


def test_example_round_trips_through_json(policy: Policy) -> None:
    again = Policy.model_validate(policy.model_dump(mode="json"))
    assert again == policy
    assert again.severity("P0").rank == 1
