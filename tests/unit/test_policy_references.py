"""Cross-reference checks: names that must exist, be unique, and not loop."""

import pytest
from pydantic import ValidationError

from tocsin.policy import Policy, PolicyError, PolicyIssue, parse_policy

SEVERITIES = """\
severities:
  - name: SEV1
    aliases: [P0, critical]
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
  - name: SEV2
    aliases: [P1, high]
    respond_within: 15m
    escalate_after: 30m
    update_every: 30m
    resolve_target: 2h
"""  # 13 lines


def _issues(extra: str, severities: str = SEVERITIES) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(severities + extra)
    return [(i.path, i.line, i.message) for i in caught.value.issues]


def test_severity_names_and_aliases_unique_ignoring_case() -> None:
    severities = SEVERITIES.replace("[P1, high]", "[P1, Critical, sev1]")
    assert _issues("", severities) == [
        (
            "severities[1].aliases[1]",
            9,
            "'Critical' is already used by severities[0] ('critical'); "
            "severity names and aliases must be unique, ignoring case",
        ),
        (
            "severities[1].aliases[2]",
            9,
            "'sev1' is already used by severities[0] ('SEV1'); "
            "severity names and aliases must be unique, ignoring case",
        ),
    ]


def test_duplicate_names() -> None:
    extra = """\
roles:
  - name: commander
  - name: commander
people:
  - name: alice
  - name: alice
tagging:
  - tag: db
    keywords: [db]
  - tag: db
    keywords: [sql]
"""
    assert [(p, line) for p, line, _ in _issues(extra)] == [
        ("roles[1].name", 16),
        ("people[1].name", 19),
        ("tagging[1].tag", 23),
    ]


def test_team_members_and_lead() -> None:
    extra = """\
people:
  - name: alice
  - name: bob
teams:
  - name: platform
    timezone: Europe/Nowhere
    members: [alice, carol]
    lead: bob
"""
    assert _issues(extra) == [
        (
            "teams[0].timezone",
            19,
            "unknown time zone 'Europe/Nowhere'; use an IANA name such as "
            "'America/Los_Angeles' or 'UTC'",
        ),
        ("teams[0].members[1]", 20, "unknown person 'carol'"),
        ("teams[0].lead", 21, "lead 'bob' is not one of the team's members"),
    ]


def test_service_references_self_dependency_and_cycles() -> None:
    extra = """\
teams:
  - name: payments
services:
  - name: a
    team: payment
    depends_on: [b, a, zz]
  - name: b
    depends_on: [c]
  - name: c
    depends_on: [a]
"""
    assert _issues(extra) == [
        ("services[0].team", 18, "unknown team 'payment'; did you mean 'payments'?"),
        ("services[0].depends_on", 19, "dependency cycle: a -> b -> c -> a"),
        ("services[0].depends_on[1]", 19, "service 'a' cannot depend on itself"),
        ("services[0].depends_on[2]", 19, "unknown service 'zz'"),
    ]


def test_separate_cycles_reported_once_each() -> None:
    extra = """\
services:
  - {name: a, depends_on: [b]}
  - {name: b, depends_on: [a]}
  - {name: c, depends_on: [d]}
  - {name: d, depends_on: [c, a]}
"""
    assert _issues(extra) == [
        ("services[0].depends_on", 15, "dependency cycle: a -> b -> a"),
        ("services[2].depends_on", 17, "dependency cycle: c -> d -> c"),
    ]


def test_shared_dependencies_are_not_cycles() -> None:
    extra = """\
services:
  - {name: web, depends_on: [api, auth]}
  - {name: api, depends_on: [auth, db]}
  - {name: auth, depends_on: [db]}
  - {name: db}
"""
    policy = parse_policy(SEVERITIES + extra)
    web = policy.service("web")
    assert web is not None and web.depends_on == ("api", "auth")


def test_constructing_in_python_runs_the_same_checks() -> None:
    data = {
        "severities": [
            {
                "name": "SEV1",
                "respond_within": "5m",
                "escalate_after": "15m",
                "update_every": "15m",
                "resolve_target": "30m",
            }
        ],
        "services": [{"name": "api", "team": "ghosts"}],
    }
    with pytest.raises(ValidationError, match=r"services\[0\]\.team: unknown team 'ghosts'"):
        Policy.model_validate(data)


def test_issue_is_frozen() -> None:
    issue = PolicyIssue("a", 1, 1, "m")
    with pytest.raises(AttributeError):
        issue.line = 2  # type: ignore[misc]


def test_game_days_name_known_people_and_services_once() -> None:
    extra = """\
people: [{name: alice}]
services: [{name: api}]
game_days:
  - name: outage
    service: apii
    responders: [alice, alise]
    alerts: [{labels: {alertname: Down}}]
  - name: outage
    alerts: [{after: 1m, labels: {alertname: Down}, status: resolved}]
"""
    assert [(path, message) for path, _, message in _issues(extra)] == [
        ("game_days[0].service", "unknown service 'apii'; did you mean 'api'?"),
        ("game_days[0].responders[1]", "unknown person 'alise'; did you mean 'alice'?"),
        ("game_days[1].name", "duplicate game day 'outage'"),
    ]
