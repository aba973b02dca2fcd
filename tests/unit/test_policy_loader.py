"""Loading tocsin.yaml: every mistake is reported at once, with its path and line."""

from pathlib import Path

import pytest

from tocsin.policy import DEFAULT_ROLES, PolicyError, PolicyIssue, load_policy, parse_policy

MINIMAL = """\
severities:
  - name: SEV1
    respond_within: 5m
    escalate_after: 15m
    update_every: 15m
    resolve_target: 30m
"""


def _issues(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "tocsin.yaml")
    return caught.value.issues


def _where(text: str) -> list[tuple[str, int | None]]:
    return [(issue.path, issue.line) for issue in _issues(text)]


def test_minimal_policy_gets_defaults() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.version == 1
    assert policy.severity("sev1").rank == 1
    assert policy.roles == DEFAULT_ROLES
    assert [r.name for r in policy.roles] == [
        "commander",
        "tech_lead",
        "comms_lead",
        "scribe",
        "sme",
    ]
    assert (policy.teams, policy.people, policy.services, policy.tagging) == ((), (), (), ())


# Line numbers below are the 1-based lines of this document.
SEVERAL_MISTAKES = """\
version: 1
severities:
  - name: SEV1
    aliases: [P0, critical]
    respond_within: 5 minutes
    escalate_after: 15m
    update_every: 0m
    resolve_target: 30m
  - name: SEV2
    aliases: [high, p0]
    respnd_within: 15m
    escalate_after: 30m
    update_every: 30m
    resolve_target: 2h
people:
  - name: alice
    email: alice@example.com
    timezone: Mars/Olympus
  - name: alice
teams:
  - name: payments
    members: [alice, zed]
    lead: bob
services:
  - name: checkout-api
    team: paymnts
    tier: 7
    depends_on: [payments-db]
  - name: payments-db
    team: payments
    depends_on: [checkout-api]
"""


def test_reports_every_mistake_with_path_and_line() -> None:
    issues = _issues(SEVERAL_MISTAKES)
    assert [(i.path, i.line) for i in issues] == [
        ("severities[0].respond_within", 5),
        ("severities[0].update_every", 7),
        ("severities[1].respond_within", 9),  # missing: reported on its entry
        ("severities[1].aliases[1]", 10),
        ("severities[1].respnd_within", 11),
        ("people[0].timezone", 18),
        ("people[1].name", 19),
        ("teams[0].members[1]", 22),
        ("teams[0].lead", 23),
        ("services[0].team", 26),
        ("services[0].tier", 27),
        ("services[0].depends_on", 28),
    ]
    messages = {i.path: i.message for i in issues}
    assert "invalid duration '5 minutes'" in messages["severities[0].respond_within"]
    assert messages["severities[0].update_every"] == "duration must be greater than zero"
    assert messages["severities[1].respond_within"] == "required key is missing"
    assert "'p0' is already used by severities[0]" in messages["severities[1].aliases[1]"]
    assert messages["severities[1].respnd_within"] == (
        "unknown key 'respnd_within'; did you mean 'respond_within'?"
    )
    assert "unknown time zone 'Mars/Olympus'" in messages["people[0].timezone"]
    assert messages["people[1].name"] == "duplicate person 'alice' (see people[0])"
    assert messages["teams[0].members[1]"] == "unknown person 'zed'"
    assert messages["teams[0].lead"] == "lead 'bob' is not one of the team's members"
    assert messages["services[0].team"] == "unknown team 'paymnts'; did you mean 'payments'?"
    assert messages["services[0].tier"] == "must be at most 4, not 7"
    assert messages["services[0].depends_on"] == (
        "dependency cycle: checkout-api -> payments-db -> checkout-api"
    )


def test_error_text_is_one_line_per_issue() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(SEVERAL_MISTAKES, "tocsin.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.issues)
    assert lines[0].startswith("tocsin.yaml:5: severities[0].respond_within: invalid duration")
    assert lines[-1] == (
        "tocsin.yaml:28: services[0].depends_on: "
        "dependency cycle: checkout-api -> payments-db -> checkout-api"
    )


def test_issue_columns_point_at_the_node() -> None:
    issues = _issues(MINIMAL + "    aliases: [P0, bad alias]\n")
    assert issues == [
        PolicyIssue(
            path="severities[0].aliases[1]",
            line=7,
            column=19,
            message="'bad alias' is not a valid severity name: use letters, digits, '.', '_' "
            "and '-' (matched ignoring case), e.g. 'SEV1'",
        )
    ]


def test_duration_errors_name_the_field() -> None:
    text = MINIMAL.replace("escalate_after: 15m", "escalate_after: 15")
    text = text.replace("resolve_target: 30m", "resolve_target: half an hour")
    issues = _issues(text)
    assert [(i.path, i.line) for i in issues] == [
        ("severities[0].escalate_after", 4),
        ("severities[0].resolve_target", 6),
    ]
    assert issues[0].message == "expected a duration string with a unit, e.g. '15m'; got 15"
    assert issues[1].message.startswith("invalid duration 'half an hour'")


def test_wrong_shapes_are_named() -> None:
    text = MINIMAL + "people: alice\nservices:\n  - name: web\n    customer_facing: maybe\n"
    assert _where(text) == [("people", 7), ("services[0].customer_facing", 10)]
    issues = _issues(text)
    assert issues[0].message == "expected a list, not a string"
    assert issues[1].message == "expected true or false, not 'maybe'"


def test_unquoted_phone_number_hint() -> None:
    (issue,) = _issues(MINIMAL + "people:\n  - name: alice\n    phone: +15555550101\n")
    assert (issue.path, issue.line) == ("people[0].phone", 9)
    assert issue.message == "expected a string, not a number (put it in quotes)"


def test_unknown_top_level_section_lists_the_known_ones() -> None:
    (issue,) = _issues(MINIMAL + "servces: []\n")
    assert (issue.path, issue.line) == ("servces", 7)
    assert issue.message == "unknown key 'servces'; did you mean 'services'?"


def test_missing_and_empty_severities() -> None:
    (issue,) = _issues("version: 1\n")
    assert (issue.path, issue.line, issue.message) == ("severities", 1, "required key is missing")
    (issue,) = _issues("severities: []\n")
    assert (issue.path, issue.line, issue.message) == ("severities", 1, "must not be empty")


def test_unsupported_version() -> None:
    (issue,) = _issues("version: 2\n" + MINIMAL)
    assert (issue.path, issue.line, issue.message) == ("version", 1, "must be 1, not 2")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("severities:\n  - name: [SEV1\nroles: []\n", 3, "invalid YAML"),
        ("severities:\n  - name: SEV1\n   bad: indent\n", 3, "invalid YAML"),
        ("version: 1\nversion: 1\n", 2, 'duplicate key "version"'),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
    ],
)
def test_yaml_syntax_error_has_its_line(text: str, line: int, fragment: str) -> None:
    (issue,) = _issues(text)
    assert issue.path == ""
    assert issue.line == line
    assert fragment in issue.message


def test_syntax_error_text() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 1\nseverities: [\n", "tocsin.yaml")
    assert str(caught.value).startswith("tocsin.yaml:3: invalid YAML: ")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "tocsin.yaml")
    assert str(caught.value) == "tocsin.yaml: the policy file is empty"


@pytest.mark.parametrize(("text", "kind"), [("- SEV1\n", "a list"), ("SEV1\n", "a string")])
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    (issue,) = _issues(text)
    assert issue.line == 1
    assert issue.message.endswith(f"not {kind}")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.issues == [PolicyIssue("", None, None, "policy file not found")]
    assert str(caught.value) == f"{path}: policy file not found"


def test_load_policy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(MINIMAL.replace("5m", "5x"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}:3: severities[0].respond_within: ")
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_policy(path).severity("SEV1").name == "SEV1"
