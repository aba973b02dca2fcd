"""The policy's `routes:` and `alerting:` sections: models, checks and the example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tocsin.policy import Policy, PolicyError, example_policy_text, parse_policy, policy_json_schema
from tocsin.policy.alerting import AlertingSettings, Route, alerting_reference_issues

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
services:
  - name: checkout-api
  - name: payments-db
"""  # 16 lines


def _issues(extra: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(SEVERITIES + extra)
    return [(i.path, i.line, i.message) for i in caught.value.issues]


def test_defaults_without_the_sections() -> None:
    policy = parse_policy(SEVERITIES)
    assert policy.routes is None
    assert policy.alerting == AlertingSettings()
    settings = policy.alerting
    assert settings.correlation_window == timedelta(minutes=5)
    assert settings.reopen_window == timedelta(hours=1)
    assert settings.resolve_action == "monitoring"
    assert (settings.cascade.min_alerts, settings.cascade.min_services) == (5, 2)
    assert settings.flapping.transitions == 4
    assert settings.cascade_window == settings.flapping_window == timedelta(minutes=5)
    assert settings.maintenance_windows == ()


def test_routes_parse_with_matchers_and_durations() -> None:
    policy = parse_policy(
        SEVERITIES
        + """\
routes:
  service: checkout-api
  routes:
    - match: ['severity=~"critical|high"', "env=prod"]
      severity_map: {warning: SEV2}
      continue: true
      min_alerts: 3
      within: 10m
alerting:
  correlation_window: 2m
  flapping: {transitions: 6, window: 1h}
"""
    )
    assert policy.routes is not None
    (child,) = policy.routes.routes
    assert [str(m) for m in child.matchers] == ['severity=~"critical|high"', 'env="prod"']
    assert child.continue_ is True
    assert child.within == timedelta(minutes=10)
    assert policy.alerting.cascade_window == timedelta(minutes=2)
    assert policy.alerting.flapping_window == timedelta(hours=1)
    # Round trip: `continue` is written back under its own name.
    dumped = policy.model_dump(mode="json")
    assert dumped["routes"]["routes"][0]["continue"] is True
    assert Policy.model_validate(dumped) == policy


def test_reference_issues_with_lines() -> None:
    extra = """\
routes:
  match: ['a="b"']
  continue: true
  service: checkout
  severity: SEV9
  routes:
    - match: ['severity=~"(crit"', "ok=1", "=x"]
      escalation_policy: nobody
      severity_map: {warning: SEV3, error: high}
      default_severity: P7
      routes:
        - service: payments-dbb
alerting:
  maintenance_windows:
    - service: web
      start: "2026-03-01T02:00:00Z"
      end: "2026-03-01T04:00:00Z"
"""
    assert _issues(extra) == [
        (
            "routes.match",
            18,
            "the top route is the default and matches every alert; "
            "put matchers on a route under its `routes`",
        ),
        ("routes.continue", 19, "the top route has no siblings to continue to"),
        ("routes.service", 20, "unknown service 'checkout'; did you mean 'checkout-api'?"),
        (
            "routes.severity",
            21,
            "unknown severity 'SEV9'; did you mean 'SEV2'? (severities: SEV1, SEV2)",
        ),
        (
            "routes.routes[0].match[0]",
            23,
            "invalid regular expression in matcher 'severity=~\"(crit\"': "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "routes.routes[0].match[2]",
            23,
            "invalid matcher '=x': expected a label name first, e.g. 'service=\"checkout\"'",
        ),
        (
            "routes.routes[0].escalation_policy",
            24,
            "unknown escalation policy 'nobody' (no `escalation_policies` are defined)",
        ),
        (
            "routes.routes[0].severity_map.warning",
            25,
            "unknown severity 'SEV3'; did you mean 'SEV2'? (severities: SEV1, SEV2)",
        ),
        ("routes.routes[0].default_severity", 26, "unknown severity 'P7' (severities: SEV1, SEV2)"),
        (
            "routes.routes[0].routes[0].service",
            28,
            "unknown service 'payments-dbb'; did you mean 'payments-db'?",
        ),
        ("alerting.maintenance_windows[0].service", 31, "unknown service 'web'"),
    ]


def test_field_errors() -> None:
    extra = """\
routes:
  min_alerts: 0
  within: 5
  open_incident: maybe
  continu: true
  routes:
    - match: "a=b"
alerting:
  resolve_action: closed
  cascade: {min_alerts: 1}
  maintenance_windows:
    - service: payments-db
      start: "2026-03-01T04:00:00Z"
      end: "2026-03-01T02:00:00Z"
    - service: payments-db
      start: "2026-03-01T04:00:00"
      end: "2026-03-01T05:00:00Z"
"""
    assert _issues(extra) == [
        ("routes.min_alerts", 18, "must be at least 1, not 0"),
        ("routes.within", 19, "expected a duration string with a unit, e.g. '15m'; got 5"),
        ("routes.open_incident", 20, "expected true or false, not 'maybe'"),
        ("routes.continu", 21, "unknown key 'continu'; did you mean 'continue'?"),
        ("routes.routes[0].match", 23, "expected a list, not a string"),
        ("alerting.resolve_action", 25, "must be 'monitoring' or 'resolved', not 'closed'"),
        ("alerting.cascade.min_alerts", 26, "must be at least 2, not 1"),
        ("alerting.maintenance_windows[0]", 28, "end must be after start"),
        (
            "alerting.maintenance_windows[1].start",
            32,
            "needs a UTC offset, e.g. '2026-03-01T22:00:00Z' or '2026-03-01T23:00:00+01:00'",
        ),
    ]


def test_bad_matcher_reported_once_by_model_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        Route.model_validate({"routes": [{"match": ['a=~"("']}]})
    (error,) = caught.value.errors()
    assert error["loc"] == ("routes", 0, "match", 0)
    assert "invalid regular expression" in error["msg"]


def test_reference_issues_skip_wrong_shapes() -> None:
    assert alerting_reference_issues({"routes": "x", "alerting": []}) == []
    assert alerting_reference_issues({"routes": {"routes": [1, {"match": [2]}]}}) == []


def test_escalation_policies_are_checked_against_the_section() -> None:
    data = {
        "escalation_policies": [{"name": "default"}, {"name": "payments"}],
        "routes": {"escalation_policy": "payment", "routes": [{"escalation_policy": "default"}]},
    }
    assert alerting_reference_issues(data) == [
        (
            ("routes", "escalation_policy"),
            "unknown escalation policy 'payment'; did you mean 'payments'?",
        )
    ]


def test_example_policy_routes_and_alerting() -> None:
    policy = parse_policy(example_policy_text(), "example.yaml")
    assert policy.routes is not None
    assert policy.routes.name == "default"
    assert [r.name for r in policy.routes.routes] == [
        "watchdog",
        "info-only",
        "security",
        "database-watch",
        "checkout",
        "payments-db",
        "auth",
        "web",
        "low-priority",
    ]
    settings = policy.alerting
    assert settings.correlation_window == timedelta(minutes=5)
    assert settings.cascade.min_alerts == 6 and settings.cascade.min_services == 2
    assert settings.flapping_window == timedelta(hours=1)
    (window,) = settings.maintenance_windows
    assert window.start == datetime(2026, 3, 1, 2, tzinfo=UTC)


def test_schema_describes_the_new_sections() -> None:
    schema = policy_json_schema()
    assert {"routes", "alerting"} <= set(schema["properties"])
    route = schema["$defs"]["Route"]
    assert route["additionalProperties"] is False
    assert "continue" in route["properties"] and "continue_" not in route["properties"]
    assert route["properties"]["match"]["items"]["type"] == "string"
    alerting = schema["$defs"]["AlertingSettings"]["properties"]
    assert alerting["correlation_window"]["default"] == "5m"
    assert alerting["reopen_window"]["default"] == "1h"


def test_pagerduty_rate_limit() -> None:
    assert parse_policy(SEVERITIES).alerting.pagerduty.rate_limit is None
    policy = parse_policy(SEVERITIES + "alerting:\n  pagerduty: {rate_limit: 120}\n")
    assert policy.alerting.pagerduty.rate_limit == 120
    assert policy.alerting.pagerduty.rate_window == timedelta(minutes=1)
    assert _issues("alerting:\n  pagerduty: {rate_limit: 0, rate_windw: 1m}\n") == [
        ("alerting.pagerduty.rate_limit", 18, "must be at least 1, not 0"),
        (
            "alerting.pagerduty.rate_windw",
            18,
            "unknown key 'rate_windw'; did you mean 'rate_window'?",
        ),
    ]
