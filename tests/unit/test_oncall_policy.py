"""Loading the on-call sections: every mistake reported with its path and line."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from tocsin.policy import PolicyError, example_policy_text, parse_policy, policy_json_schema
from tocsin.policy.oncall import Restriction, Schedule, Target


def issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "tocsin.yaml")
    return [(i.path, i.line, i.message) for i in caught.value.issues]


SCHEDULES = """\
severities:
  - name: SEV1
    aliases: [P0]
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
people:
  - name: alice
  - name: bob
teams:
  - name: ops
    members: [alice]
schedules:
  - name: primary
    timezone: Mars/Olympus
    team: opz
    layers:
      - name: weekly
        rotation: custom
        start: "2026-01-05T09:00Z"
        participants: [alice, bobb]
      - name: weekly
        rotation: weekly
        length: 7d
        start: "2026-01-05T09:00"
        participants: []
        restrictions:
          - days: [monday]
            from: "9am"
            to: 17:00
    overrides:
      - person: bob
        start: "2026-02-01T00:00:00Z"
        end: "2026-02-01T00:00:00Z"
      - person: alice
        start: 2026-02-01T00:00:00Z
        end: 2026-02-03T00:00:00Z
      - person: bob
        start: "2026-02-02T00:00:00+01:00"
        end: "2026-02-04T00:00:00Z"
  - name: primary
    layers: []
"""


def test_schedule_errors() -> None:
    assert issues(SCHEDULES) == [
        (
            "schedules[0].timezone",
            16,
            "unknown time zone 'Mars/Olympus'; "
            "use an IANA name such as 'America/Los_Angeles' or 'UTC'",
        ),
        ("schedules[0].team", 17, "unknown team 'opz'; did you mean 'ops'?"),
        ("schedules[0].layers[0].rotation", 20, "a custom rotation needs a `length`, e.g. 12h"),
        (
            "schedules[0].layers[0].start",
            21,
            "write a local time without an offset or 'Z' (the schedule's timezone applies); "
            "got '2026-01-05T09:00Z'",
        ),
        (
            "schedules[0].layers[0].participants[1]",
            22,
            "unknown person 'bobb'; did you mean 'bob'?",
        ),
        (
            "schedules[0].layers[1].name",
            23,
            "duplicate layer 'weekly' (see schedules[0].layers[0])",
        ),
        (
            "schedules[0].layers[1].length",
            25,
            "`length` is only for custom rotations; weekly is fixed",
        ),
        ("schedules[0].layers[1].participants", 27, "must not be empty"),
        (
            "schedules[0].layers[1].restrictions[0].days[0]",
            29,
            "must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun', not 'monday'",
        ),
        (
            "schedules[0].layers[1].restrictions[0].from",
            30,
            "expected a local time of day as 'HH:MM' (24-hour, quoted), e.g. '09:00'; got '9am'",
        ),
        ("schedules[0].overrides[0].end", 35, "an override must end after it starts"),
        ("schedules[0].overrides[2]", 39, "override overlaps schedules[0].overrides[1]"),
        ("schedules[1].name", 42, "duplicate schedule 'primary' (see schedules[0])"),
        ("schedules[1].layers", 43, "must not be empty"),
    ]


ESCALATION = """\
severities:
  - name: SEV1
    aliases: [P0]
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
people:
  - name: alice
teams:
  - name: ops
    members: [alice]
services:
  - name: api
    escalation_policy: standrd
escalation_policies:
  - name: standard
    repeat: -1
    tiers:
      - timeout: 15
        targets: []
      - timeout: 15m
        targets:
          - schedule: primry
            person: alice
          - {}
          - team: opz
    severity_overrides:
      SEV1: standard
      P0: urgent
      SEV7: urgent
  - name: standard
    tiers: []
stakeholders:
  - severity: SEV9
    steps:
      - after: 15m
        notify: [{person: alicia}]
      - after: 0m
        notify: [{person: alice}]
      - after: soon
        notify: []
  - severity: p0
    steps: []
commander_assignment:
  security_lead: dan
  senior_schedule: senior
  primary_schedule: primary
  security_tags: [security]
"""


def test_escalation_stakeholder_and_commander_errors() -> None:
    assert issues(ESCALATION) == [
        (
            "services[0].escalation_policy",
            15,
            "unknown escalation policy 'standrd'; did you mean 'standard'?",
        ),
        ("escalation_policies[0].repeat", 18, "must be at least 0, not -1"),
        (
            "escalation_policies[0].tiers[0].timeout",
            20,
            "expected a duration string with a unit, e.g. '15m'; got 15",
        ),
        ("escalation_policies[0].tiers[0].targets", 21, "must not be empty"),
        (
            "escalation_policies[0].tiers[1].targets[0]",
            24,
            "a target names exactly one of schedule, person or team (got schedule, person)",
        ),
        ("escalation_policies[0].tiers[1].targets[0].schedule", 24, "unknown schedule 'primry'"),
        (
            "escalation_policies[0].tiers[1].targets[1]",
            26,
            "a target names exactly one of schedule, person or team",
        ),
        (
            "escalation_policies[0].tiers[1].targets[2].team",
            27,
            "unknown team 'opz'; did you mean 'ops'?",
        ),
        (
            "escalation_policies[0].severity_overrides.SEV1",
            29,
            "escalation policy 'standard' cannot override itself",
        ),
        (
            "escalation_policies[0].severity_overrides.P0",
            30,
            "'P0' is the same severity as 'SEV1'; list it once",
        ),
        ("escalation_policies[0].severity_overrides.P0", 30, "unknown escalation policy 'urgent'"),
        (
            "escalation_policies[0].severity_overrides.SEV7",
            31,
            "unknown severity 'SEV7'; valid: SEV1",
        ),
        (
            "escalation_policies[0].severity_overrides.SEV7",
            31,
            "unknown escalation policy 'urgent'",
        ),
        (
            "escalation_policies[1].name",
            32,
            "duplicate escalation policy 'standard' (see escalation_policies[0])",
        ),
        ("escalation_policies[1].tiers", 33, "must not be empty"),
        ("stakeholders[0].severity", 35, "unknown severity 'SEV9'; valid: SEV1"),
        (
            "stakeholders[0].steps[0].notify[0].person",
            38,
            "unknown person 'alicia'; did you mean 'alice'?",
        ),
        ("stakeholders[0].steps[1].after", 39, "steps must be in order of `after`"),
        (
            "stakeholders[0].steps[2].after",
            41,
            "expected a duration with a unit such as '0m', '15m' or '1h'; got 'soon'",
        ),
        ("stakeholders[0].steps[2].notify", 42, "must not be empty"),
        ("stakeholders[1].steps", 44, "must not be empty"),
        ("commander_assignment.security_lead", 46, "unknown person 'dan'"),
        ("commander_assignment.senior_schedule", 47, "unknown schedule 'senior'"),
        ("commander_assignment.primary_schedule", 48, "unknown schedule 'primary'"),
        (
            "commander_assignment.security_tags",
            49,
            "unknown key 'security_tags'; did you mean 'security_tag'?",
        ),
    ]


def test_example_on_call_sections() -> None:
    policy = parse_policy(example_policy_text(), "example.yaml")
    assert [s.name for s in policy.schedules] == [
        "platform-primary",
        "platform-secondary",
        "ic-rotation",
    ]
    primary = policy.schedule("platform-primary")
    assert primary is not None and primary.timezone == "UTC"
    assert primary.layers[0].start == datetime(2026, 1, 5, 9)  # a Monday, local time
    ic = policy.schedule("ic-rotation")
    assert ic is not None and ic.timezone == "America/Los_Angeles"  # from the team
    assert ic.layers[1].restrictions == (
        Restriction(days=("mon", "tue", "wed"), from_=time(9), to=time(17)),
    )
    assert policy.schedule("nope") is None
    assert [e.name for e in policy.escalation_policies] == ["default", "payments", "sev1"]
    assert policy.escalation_policy("default") is not None
    assert policy.escalation_policy("nope") is None
    assert len({*policy.escalation_policies}) == 3  # hashable, like every frozen model
    assert {s.name: s.escalation_policy for s in policy.services} == {
        "checkout-api": "payments",
        "payments-db": "payments",
        "auth-service": "default",
        "web-frontend": "default",
    }
    assert [m.severity for m in policy.stakeholders] == ["SEV1", "SEV2", "SEV3"]
    assert policy.commander_assignment is not None
    assert policy.commander_assignment.security_lead == "dana"
    for name in ("vp-eng", "cto", "ceo"):
        assert policy.person(name) is not None


def test_minimal_policy_has_no_on_call_sections() -> None:
    text = SCHEDULES.split("people:")[0]
    policy = parse_policy(text)
    assert policy.schedules == ()
    assert policy.escalation_policies == ()
    assert policy.stakeholders == ()
    assert policy.commander_assignment is None


def test_schedule_timezone_defaults_to_the_team_then_utc() -> None:
    text = SCHEDULES.split("schedules:")[0].replace(
        "members: [alice]", "members: [alice]\n    timezone: Asia/Tokyo"
    )
    layer = (
        "    layers: [{name: l, rotation: daily, start: '2026-01-05T09:00', "
        "participants: [alice]}]\n"
    )
    policy = parse_policy(
        text + "schedules:\n  - name: a\n    team: ops\n" + layer + "  - name: b\n" + layer
    )
    assert [s.timezone for s in policy.schedules] == ["Asia/Tokyo", None]


def test_models_on_their_own() -> None:
    assert (Target(team="ops").kind, Target(team="ops").name) == ("team", "ops")
    assert Target(schedule="primary").kind == "schedule"
    with pytest.raises(ValueError, match="exactly one"):
        Target(person="a", team="b")
    schedule = Schedule.model_validate(
        {
            "name": "s",
            "layers": [
                {
                    "name": "l",
                    "rotation": "custom",
                    "length": "12h",
                    "start": datetime(2026, 1, 5, 9),
                    "participants": ["a"],
                }
            ],
            "overrides": [
                {"person": "b", "start": "2026-02-01T01:00:00+01:00", "end": "2026-02-02T00:00Z"}
            ],
        }
    )
    assert schedule.layers[0].length == timedelta(hours=12)
    assert schedule.overrides[0].start == datetime(2026, 2, 1, tzinfo=UTC)
    dumped = schedule.model_dump(mode="json", by_alias=True)
    assert dumped["layers"][0]["start"] == "2026-01-05T09:00"
    assert dumped["layers"][0]["length"] == "12h"


def test_schema_describes_the_new_sections() -> None:
    schema = policy_json_schema()
    assert {"schedules", "escalation_policies", "stakeholders", "commander_assignment"} <= set(
        schema["properties"]
    )
    restriction = schema["$defs"]["Restriction"]
    assert set(restriction["properties"]) == {"days", "from", "to"}
    assert restriction["additionalProperties"] is False


def test_unknown_key_suggests_the_yaml_spelling() -> None:
    text = SCHEDULES.split("schedules:")[0] + (
        "schedules:\n"
        "  - name: s\n"
        "    layers:\n"
        "      - name: l\n"
        "        rotation: daily\n"
        "        start: '2026-01-05T09:00'\n"
        "        participants: [alice]\n"
        "        restrictions: [{days: [mon], form: '09:00', to: '17:00'}]\n"
    )
    assert issues(text) == [
        ("schedules[0].layers[0].restrictions[0].from", 21, "required key is missing"),
        (
            "schedules[0].layers[0].restrictions[0].form",
            21,
            "unknown key 'form'; did you mean 'from'?",
        ),
    ]
