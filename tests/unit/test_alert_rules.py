"""The pure alert rules: matchers, routing, severity mapping, fingerprints and group
keys, cascades and flapping, silences, maintenance windows and the noise gate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.rules import (
    AlertOutcome,
    CascadeReason,
    InvalidSilence,
    MaintenanceWindow,
    Matcher,
    MatcherError,
    MatchOp,
    RecentAlert,
    RouteDecision,
    SeverityReason,
    Silence,
    SilenceState,
    detect_cascade,
    detect_flapping,
    fingerprint,
    gate_open,
    group_key,
    in_maintenance,
    matches,
    parse_matcher,
    resolve_severity,
    route,
    silenced_by,
)
from tocsin.ingest import parse_alertmanager, parse_pd_event
from tocsin.policy import Policy, example_policy_text, parse_policy
from tocsin.policy.alerting import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(example_policy_text(), "example.yaml")


@dataclass(frozen=True)
class Alert:
    labels: Mapping[str, str] = field(default_factory=dict)
    severity_hint: str | None = None


# --- matchers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('service="checkout"', "service", MatchOp.EQ, "checkout"),
        ("service=checkout", "service", MatchOp.EQ, "checkout"),
        ('  service = "checkout"  ', "service", MatchOp.EQ, "checkout"),
        ('severity=~"critical|high"', "severity", MatchOp.RE, "critical|high"),
        ("severity=~critical|high", "severity", MatchOp.RE, "critical|high"),
        ('env!="prod"', "env", MatchOp.NE, "prod"),
        ('env!~"prod|staging"', "env", MatchOp.NRE, "prod|staging"),
        ('team=""', "team", MatchOp.EQ, ""),
        ("team=", "team", MatchOp.EQ, ""),
        (r'msg="say \"hi\""', "msg", MatchOp.EQ, 'say "hi"'),
        (r'path="C:\\dir"', "path", MatchOp.EQ, "C:\\dir"),
        (r'status=~"5\d\d"', "status", MatchOp.RE, r"5\d\d"),  # undoubled backslash kept
        (r'status=~"5\\d\\d"', "status", MatchOp.RE, r"5\d\d"),
        ('k8s.namespace="x"', "k8s.namespace", MatchOp.EQ, "x"),
        ("a==b", "a", MatchOp.EQ, "=b"),
    ],
)
def test_parse_matcher(text: str, name: str, op: MatchOp, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a label name first"),
        ('="x"', "expected a label name first"),
        ("service", "expected one of =, !=, =~, !~ after 'service'"),
        ("service~x", "expected one of"),
        ('service="checkout', "missing closing quote"),
        ('service="a" b', "unexpected text after the closing quote"),
        ('severity=~"(crit"', "invalid regular expression in matcher"),
        ("severity!~[", "invalid regular expression in matcher"),
    ],
)
def test_bad_matchers(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_matcher_constructor_checks() -> None:
    with pytest.raises(MatcherError, match="invalid operator"):
        Matcher("a", "~=", "b")  # type: ignore[arg-type]
    with pytest.raises(MatcherError, match="invalid label name"):
        Matcher("1a", MatchOp.EQ, "b")
    assert Matcher("a", "=~", "b.*").op is MatchOp.RE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('service="checkout"', {"service": "checkout"}, True),
        ('service="checkout"', {"service": "checkout-api"}, False),
        ('service="checkout"', {}, False),
        ('service!="checkout"', {"service": "web"}, True),
        ('service!="checkout"', {"service": "checkout"}, False),
        ('service!="checkout"', {}, True),
        # Regexes are anchored at both ends, as in Alertmanager.
        ('severity=~"crit"', {"severity": "critical"}, False),
        ('severity=~"crit.*"', {"severity": "critical"}, True),
        ('severity=~"critical|high"', {"severity": "high"}, True),
        ('severity=~"critical|high"', {"severity": "very high"}, False),
        ('severity=~"critical|high"', {"severity": "highest"}, False),
        ('severity!~"info|none"', {"severity": "critical"}, True),
        ('severity!~"info|none"', {"severity": "info"}, False),
        ('severity!~"info|none"', {"severity": "information"}, True),
        # A missing label is the empty string.
        ('team=""', {}, True),
        ('team=""', {"team": "a"}, False),
        ('team!=""', {}, False),
        ('team=~".*"', {}, True),
        ('team=~".+"', {}, False),
        ('team!~".+"', {}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


def test_matches_needs_all() -> None:
    both = [parse_matcher('a="1"'), parse_matcher('b=~"2|3"')]
    assert matches(both, {"a": "1", "b": "3"})
    assert not matches(both, {"a": "1", "b": "4"})
    assert matches([], {"anything": "x"})


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(list(MatchOp)),
    st.text(max_size=15).filter(lambda s: "\\" not in s),
)
def test_matcher_text_round_trips(name: str, op: MatchOp, value: str) -> None:
    try:
        matcher = Matcher(name, op, value)
    except MatcherError:
        return  # not a valid regex
    assert parse_matcher(str(matcher)) == matcher


# --- fingerprints and group keys -------------------------------------------------------


def test_fingerprint_is_stable_and_order_free() -> None:
    a = fingerprint({"alertname": "X", "service": "checkout"})
    assert a == fingerprint({"service": "checkout", "alertname": "X"})
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != fingerprint({"alertname": "X", "service": "checkout2"})
    assert a != fingerprint({"alertname": "X"})
    # Pairs, not concatenations: {"ab": "c"} and {"a": "bc"} differ.
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})
    assert fingerprint({}) == fingerprint({})


@given(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=5))
def test_fingerprint_ignores_insertion_order(labels: dict[str, str]) -> None:
    reversed_labels = dict(reversed(list(labels.items())))
    assert fingerprint(labels) == fingerprint(reversed_labels)


def _decision(service: str | None = "checkout-api", group_by: tuple[str, ...] = ()) -> Any:
    return RouteDecision(
        service=service,
        severity="SEV1",
        severity_reason=SeverityReason.explicit,
        severity_value=None,
        escalation_policy=None,
        open_incident=True,
        route_path=("routes",),
        group_by=group_by,
    )


def test_group_key() -> None:
    labels = {"alertname": "HighErrorRate", "env": "test", "instance": "a"}
    assert (
        group_key(_decision(group_by=("alertname",)), labels)
        == 'checkout-api:{alertname="HighErrorRate"}'
    )
    # Sorted by name, missing labels empty, values quoted and escaped.
    key = group_key(_decision(group_by=("zone", "alertname")), {**labels, "zone": 'a"b'})
    assert key == 'checkout-api:{alertname="HighErrorRate",zone="a\\"b"}'
    assert group_key(_decision(group_by=("team",)), labels) == 'checkout-api:{team=""}'
    # Other labels do not split the group; the service does.
    other_instance = {**labels, "instance": "b"}
    decision = _decision(group_by=("alertname",))
    assert group_key(decision, labels) == group_key(decision, other_instance)
    assert group_key(decision, labels) != group_key(_decision("web", ("alertname",)), labels)
    # `...` groups by every label.
    everything = group_key(_decision(group_by=("...",)), labels)
    assert everything == 'checkout-api:{alertname="HighErrorRate",env="test",instance="a"}'
    assert group_key(_decision(None, ()), labels) == ":{}"


def test_an_alert_with_its_own_key_is_its_own_group_unless_a_route_groups_it() -> None:
    """PagerDuty's events: each dedup_key is one alert, and by default one incident;
    a route that groups by one of their labels (source, component, ...) groups them."""
    labels = {"source": "web-1", "severity": "critical"}
    default = _decision(group_by=("alertname", "service"))
    first = group_key(default, labels, alert_key="disk/web-1")
    assert first == 'checkout-api:dedup_key="disk/web-1"'
    assert first != group_key(default, labels, alert_key="cpu/web-1")
    assert first != group_key(_decision("web", ("alertname",)), labels, alert_key="disk/web-1")
    by_source = _decision(group_by=("alertname", "source"))
    assert group_key(by_source, labels, alert_key="disk/web-1") == group_key(
        by_source, labels, alert_key="cpu/web-1"
    )
    assert (
        group_key(by_source, labels, alert_key="x") == 'checkout-api:{alertname="",source="web-1"}'
    )
    everything = _decision(group_by=("...",))
    assert group_key(everything, labels, alert_key="x") == group_key(everything, labels)
    assert group_key(everything, {}, alert_key="x") == 'checkout-api:dedup_key="x"'


# --- routing --------------------------------------------------------------------------


def _tree(data: dict[str, Any]) -> Route:
    return Route.model_validate(data)


def test_without_routes_every_alert_takes_the_defaults(policy: Policy) -> None:
    (decision,) = route(None, Alert({"severity": "critical"}), policy=policy)
    assert decision == RouteDecision(
        service=None,
        severity="SEV1",
        severity_reason=SeverityReason.policy,
        severity_value="critical",
        escalation_policy=None,
        open_incident=True,
        route_path=("routes",),
        group_by=("alertname",),
        min_alerts=1,
        within=timedelta(minutes=5),
        heartbeat=None,
    )
    (with_service,) = route(None, Alert(), policy=policy, default_service="web-frontend")
    assert with_service.service == "web-frontend"
    assert with_service.severity == "SEV2"
    assert with_service.severity_reason is SeverityReason.fallback


def test_first_match_wins_and_children_inherit(policy: Policy) -> None:
    tree = _tree(
        {
            "service": "web-frontend",
            "escalation_policy": "default",
            "group_by": ["alertname", "service"],
            "routes": [
                {
                    "name": "checkout",
                    "match": ['service=~"checkout.*"'],
                    "service": "checkout-api",
                    "routes": [
                        {"match": ['alertname="Latency"'], "severity": "SEV3", "min_alerts": 3},
                    ],
                },
                {"match": ['env="test"'], "open_incident": False},
                {"match": ['service="checkout"'], "service": "payments-db"},  # shadowed
            ],
        }
    )
    labels = {"service": "checkout", "env": "test", "alertname": "Latency", "severity": "critical"}
    (decision,) = route(tree, Alert(labels), policy=policy)
    assert decision.route_path == ("routes", "checkout", "routes.routes[0].routes[0]")
    assert decision.service == "checkout-api"  # from its parent
    assert decision.escalation_policy == "default"  # from the top
    assert decision.group_by == ("alertname", "service")
    assert decision.severity == "SEV3" and decision.severity_reason is SeverityReason.explicit
    assert decision.min_alerts == 3
    assert decision.within == timedelta(minutes=5)  # the correlation window
    assert decision.open_incident is True

    # A matching route whose children do not match is itself the decision.
    (parent,) = route(tree, Alert({**labels, "alertname": "Errors"}), policy=policy)
    assert parent.route_path == ("routes", "checkout")
    assert parent.severity == "SEV1" and parent.min_alerts == 1

    (second,) = route(tree, Alert({"env": "test"}), policy=policy)
    assert second.route_path == ("routes", "routes.routes[1]")
    assert second.open_incident is False and second.service == "web-frontend"

    (fallback,) = route(tree, Alert({"env": "prod"}), policy=policy)
    assert fallback.route_path == ("routes",)


def test_continue_collects_every_match(policy: Policy) -> None:
    tree = _tree(
        {
            "routes": [
                {
                    "name": "db-watch",
                    "match": ['component="db"'],
                    "service": "payments-db",
                    "continue": True,
                },
                {"name": "checkout", "match": ['service="checkout"'], "service": "checkout-api"},
                {"name": "never", "match": ['component="db"'], "service": "web-frontend"},
            ]
        }
    )
    both = route(tree, Alert({"component": "db", "service": "checkout"}), policy=policy)
    assert [(d.route_path[-1], d.service) for d in both] == [
        ("db-watch", "payments-db"),
        ("checkout", "checkout-api"),
    ]
    # Continue past a match that is the last one: the later "never" still matches.
    only_db = route(tree, Alert({"component": "db"}), policy=policy)
    assert [d.route_path[-1] for d in only_db] == ["db-watch", "never"]
    # No sibling matched: the parent decides.
    (top,) = route(tree, Alert({"service": "web"}), policy=policy)
    assert top.route_path == ("routes",)


def test_continue_inside_a_subtree(policy: Policy) -> None:
    tree = _tree(
        {
            "routes": [
                {
                    "name": "a",
                    "match": ['x="1"'],
                    "routes": [
                        {"name": "a1", "match": ['y="1"'], "continue": True},
                        {"name": "a2", "match": ['y=~"1|2"']},
                    ],
                },
                {"name": "b", "match": ['x="1"']},
            ]
        }
    )
    paths = [d.route_path for d in route(tree, Alert({"x": "1", "y": "1"}), policy=policy)]
    assert paths == [("routes", "a", "a1"), ("routes", "a", "a2")]


def test_heartbeat_and_within_on_the_route(policy: Policy) -> None:
    tree = _tree(
        {
            "within": "2m",
            "routes": [
                {"match": ['alertname="Watchdog"'], "open_incident": False, "heartbeat": "10m"},
                {"match": ['alertname="Other"'], "within": "30m", "min_alerts": 5},
            ],
        }
    )
    (watchdog,) = route(tree, Alert({"alertname": "Watchdog"}), policy=policy)
    assert watchdog.heartbeat == timedelta(minutes=10) and not watchdog.open_incident
    assert watchdog.within == timedelta(minutes=2)  # inherited
    (other,) = route(tree, Alert({"alertname": "Other"}), policy=policy)
    assert (other.within, other.min_alerts, other.heartbeat) == (timedelta(minutes=30), 5, None)


# --- severity mapping ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity", "reason"),
    [
        ("critical", "SEV1", SeverityReason.policy),  # an alias in the example policy
        ("CRITICAL", "SEV1", SeverityReason.policy),
        ("P0", "SEV1", SeverityReason.policy),
        ("high", "SEV2", SeverityReason.policy),
        ("sev3", "SEV3", SeverityReason.policy),
        ("warning", "SEV3", SeverityReason.mapped),  # the example's severity_map
        ("info", "SEV4", SeverityReason.mapped),
        ("error", "SEV2", SeverityReason.mapped),
        ("bogus", "SEV2", SeverityReason.fallback),
        (None, "SEV2", SeverityReason.fallback),
    ],
)
def test_severity_from_the_label_in_the_example(
    policy: Policy, value: str | None, severity: str, reason: SeverityReason
) -> None:
    labels = {"alertname": "Anything"} | ({"severity": value} if value is not None else {})
    decisions = route(policy.routes, Alert(labels), policy=policy)
    decision = decisions[-1]
    assert (decision.severity, decision.severity_reason) == (severity, reason)
    assert decision.severity_value == value


@pytest.mark.parametrize(
    ("word", "severity"),
    [("critical", "SEV1"), ("error", "SEV2"), ("warning", "SEV3"), ("info", "SEV4")],
)
def test_pagerduty_severities_without_a_map(policy: Policy, word: str, severity: str) -> None:
    body = {
        "routing_key": "k",
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": word},
    }
    _, event = parse_pd_event(body)
    (decision,) = route(None, event, policy=policy)
    assert decision.severity == severity
    expected = SeverityReason.policy if word == "critical" else SeverityReason.pagerduty
    assert decision.severity_reason is expected


def test_severity_hint_is_used_when_the_label_is_missing(policy: Policy) -> None:
    (decision,) = route(None, Alert({}, severity_hint="warning"), policy=policy)
    assert (decision.severity, decision.severity_reason) == ("SEV3", SeverityReason.pagerduty)


def test_severity_from_another_label_and_child_maps(policy: Policy) -> None:
    tree = _tree(
        {
            "severity_from_label": "priority",
            "severity_map": {"Urgent": "P0", "minor": "SEV4"},
            "default_severity": "SEV3",
            "routes": [{"match": ['team="x"'], "severity_map": {"urgent": "SEV2"}}],
        }
    )
    (top,) = route(tree, Alert({"priority": "urgent", "severity": "info"}), policy=policy)
    assert (top.severity, top.severity_reason) == ("SEV1", SeverityReason.mapped)
    (child,) = route(tree, Alert({"priority": "URGENT", "team": "x"}), policy=policy)
    assert child.severity == "SEV2"  # the child's entry wins
    (inherited,) = route(tree, Alert({"priority": "minor", "team": "x"}), policy=policy)
    assert inherited.severity == "SEV4"
    (unknown,) = route(tree, Alert({"priority": "whatever"}), policy=policy)
    assert (unknown.severity, unknown.severity_reason) == (
        "SEV3",
        SeverityReason.default_severity,
    )


def test_policy_names_beat_pagerduty_words() -> None:
    custom = Policy.model_validate(
        {
            "severities": [
                {
                    "name": name,
                    "aliases": aliases,
                    "respond_within": "5m",
                    "escalate_after": "5m",
                    "update_every": "5m",
                    "resolve_target": "5m",
                }
                for name, aliases in [("S1", []), ("S2", ["critical"])]
            ]
        }
    )
    assert resolve_severity(custom, value="critical").severity == "S2"
    # PagerDuty ranks are clamped to the policy's number of levels.
    assert resolve_severity(custom, value="info").severity == "S2"
    assert resolve_severity(custom, value="error").severity == "S2"
    assert resolve_severity(custom, value=None).severity == "S2"
    assert resolve_severity(custom, value="x", fixed="s1").severity == "S1"


def test_the_samples_through_the_example_routes(policy: Policy) -> None:
    for name in ("alertmanager-webhook-firing", "alertmanager-webhook-prometheus-firing"):
        body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        (event,) = parse_alertmanager(body)
        (decision,) = route(policy.routes, event, policy=policy)
        assert decision.route_path == ("default", "checkout")
        assert decision.service == "checkout-api"
        assert decision.severity == "SEV1"
        assert decision.open_incident
        assert decision.escalation_policy is None  # the service's own policy applies
        assert group_key(decision, event.labels).startswith("checkout-api:{alertname=")


def test_the_example_routes(policy: Policy) -> None:
    def one(labels: dict[str, str]) -> RouteDecision:
        (decision,) = route(policy.routes, Alert(labels), policy=policy, default_service="x")
        return decision

    watchdog = one({"alertname": "Watchdog", "severity": "none"})
    assert watchdog.route_path[-1] == "watchdog"
    assert not watchdog.open_incident and watchdog.heartbeat == timedelta(minutes=10)
    assert not one({"alertname": "Disk", "severity": "info"}).open_incident
    security = one({"category": "security", "service": "checkout"})
    assert (security.service, security.severity, security.escalation_policy) == (
        "auth-service",
        "SEV1",
        "sev1",
    )
    latency = one({"service": "checkout", "alertname": "CheckoutLatencyHigh"})
    assert (latency.severity, latency.min_alerts, latency.within) == ("SEV3", 3, 10 * MIN)
    noisy = one({"alertname": "DiskSpaceLow", "severity": "warning"})
    assert (noisy.service, noisy.severity, noisy.min_alerts) == ("x", "SEV4", 5)
    both = route(policy.routes, Alert({"component": "postgres", "service": "web"}), policy=policy)
    assert [d.service for d in both] == ["payments-db", "web-frontend"]
    assert one({"service": "payments-db"}).group_by == ("alertname", "instance")


# --- correlation ---------------------------------------------------------------------


def _recent(*specs: tuple[str, str | None, int]) -> list[RecentAlert]:
    return [RecentAlert(key, service, NOW - timedelta(seconds=ago)) for key, service, ago in specs]


def test_cascade_thresholds() -> None:
    alerts = _recent(("a", "s1", 10), ("b", "s1", 20), ("c", "s2", 30), ("d", "s2", 40))
    decision = detect_cascade(alerts, NOW, 5 * MIN, threshold_alerts=4, min_services=2)
    assert decision and decision.is_cascade and decision.reason is CascadeReason.cascade
    assert decision.services == ("s1", "s2")
    assert [a.dedup_key for a in decision.alerts] == ["d", "c", "b", "a"]  # oldest first
    assert not detect_cascade(alerts, NOW, 5 * MIN, threshold_alerts=5, min_services=2)
    few = detect_cascade(alerts, NOW, 5 * MIN, threshold_alerts=5, min_services=2)
    assert few.reason is CascadeReason.too_few_alerts
    narrow = detect_cascade(alerts, NOW, 5 * MIN, threshold_alerts=4, min_services=3)
    assert not narrow and narrow.reason is CascadeReason.too_few_services


def test_cascade_counts_distinct_alerts_with_a_service() -> None:
    repeats = _recent(("a", "s1", 1), ("a", "s1", 2), ("a", "s2", 3), ("b", "s2", 4))
    decision = detect_cascade(repeats, NOW, 5 * MIN, threshold_alerts=3, min_services=1)
    assert not decision and len(decision.alerts) == 2
    unowned = _recent(("a", None, 1), ("b", None, 2), ("c", "s1", 3))
    assert len(detect_cascade(unowned, NOW, 5 * MIN, 1, 1).alerts) == 1


def test_cascade_window_edges() -> None:
    window = 5 * MIN
    edge = [RecentAlert("a", "s1", NOW - window), RecentAlert("b", "s2", NOW)]
    assert detect_cascade(edge, NOW, window, threshold_alerts=2, min_services=2)
    just_out = [RecentAlert("a", "s1", NOW - window - timedelta(microseconds=1)), edge[1]]
    assert not detect_cascade(just_out, NOW, window, threshold_alerts=2, min_services=2)
    future = [edge[0], RecentAlert("b", "s2", NOW + timedelta(seconds=1))]
    assert not detect_cascade(future, NOW, window, threshold_alerts=2, min_services=2)


def test_cascade_follows_dependencies(policy: Policy) -> None:
    depends_on = {s.name: list(s.depends_on) for s in policy.services}
    depends_on["billing"] = []  # unrelated to the others
    alerts = _recent(
        ("db1", "payments-db", 5),
        ("db2", "payments-db", 6),
        ("web1", "web-frontend", 7),  # related to payments-db through checkout-api
        ("bill1", "billing", 8),
        ("bill2", "billing", 9),
    )
    decision = detect_cascade(
        alerts, NOW, 5 * MIN, threshold_alerts=3, min_services=2, depends_on=depends_on
    )
    assert decision.is_cascade
    assert decision.services == ("payments-db", "web-frontend")
    assert decision.origins == ("payments-db",)
    # Unrelated services are not one cascade.
    unrelated = _recent(("db1", "payments-db", 5), ("bill1", "billing", 8))
    assert not detect_cascade(unrelated, NOW, 5 * MIN, 2, 2, depends_on=depends_on)
    assert detect_cascade(unrelated, NOW, 5 * MIN, 2, 2)  # without the map they are
    assert detect_cascade(unrelated, NOW, 5 * MIN, 2, 2).origins == ()


def test_flapping_window_edges() -> None:
    window = 10 * MIN
    transitions = [NOW - window, NOW - 5 * MIN, NOW - 2 * MIN, NOW]
    assert detect_flapping(transitions, NOW, window, k=4)
    assert not detect_flapping(transitions, NOW, window, k=5)
    moved = [NOW - window - timedelta(microseconds=1), *transitions[1:]]
    assert not detect_flapping(moved, NOW, window, k=4)
    assert not detect_flapping([NOW + MIN] * 5, NOW, window, k=1)
    assert not detect_flapping([], NOW, window, k=1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        detect_flapping(transitions, NOW, window, k=0)


# --- silences and maintenance ------------------------------------------------------------


def _silence(*matchers: str, start: datetime = NOW, end: datetime = NOW + MIN) -> Silence:
    return Silence(tuple(parse_matcher(m) for m in matchers), start, end, "alice", "deploy")


def test_silence_time_bounds() -> None:
    silence = _silence('service="checkout"', start=NOW, end=NOW + 10 * MIN)
    labels = {"service": "checkout"}
    assert silence.state(NOW - timedelta(microseconds=1)) is SilenceState.pending
    assert silenced_by([silence], labels, NOW - timedelta(microseconds=1)) is None
    assert silence.state(NOW) is SilenceState.active
    assert silenced_by([silence], labels, NOW) is silence
    assert silenced_by([silence], labels, NOW + 10 * MIN - timedelta(microseconds=1)) is silence
    assert silence.state(NOW + 10 * MIN) is SilenceState.expired
    assert silenced_by([silence], labels, NOW + 10 * MIN) is None


def test_silence_needs_every_matcher_and_returns_the_first() -> None:
    narrow = _silence('service="checkout"', 'severity=~"warning|info"')
    wide = _silence('service=~"check.*"')
    assert silenced_by([narrow, wide], {"service": "checkout", "severity": "info"}, NOW) is narrow
    assert silenced_by([narrow, wide], {"service": "checkout", "severity": "critical"}, NOW) is wide
    assert silenced_by([narrow], {"service": "checkout", "severity": "critical"}, NOW) is None
    assert silenced_by([], {"service": "checkout"}, NOW) is None


@pytest.mark.parametrize(
    ("matchers", "start", "end", "message"),
    [
        ((), NOW, NOW + MIN, "at least one matcher"),
        (('team=~".*"',), NOW, NOW + MIN, "would mute every alert"),
        (('team=""', 'x!="y"'), NOW, NOW + MIN, "would mute every alert"),
        (('a="b"',), NOW, NOW, "ends_at must be after starts_at"),
        (('a="b"',), NOW.replace(tzinfo=None), NOW + MIN, "timezone-aware"),
    ],
)
def test_invalid_silences(
    matchers: tuple[str, ...], start: datetime, end: datetime, message: str
) -> None:
    with pytest.raises(InvalidSilence, match=message):
        Silence(tuple(parse_matcher(m) for m in matchers), start, end)


def test_maintenance_windows(policy: Policy) -> None:
    windows = MaintenanceWindow.all_from_policy(policy.alerting.maintenance_windows)
    (window,) = windows
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert window == MaintenanceWindow(
        "payments-db", start, start + timedelta(hours=2), "PostgreSQL major version upgrade"
    )
    assert in_maintenance(windows, "payments-db", start) is window
    assert in_maintenance(windows, "payments-db", start - timedelta(microseconds=1)) is None
    assert in_maintenance(windows, "payments-db", start + timedelta(hours=2)) is None
    assert in_maintenance(windows, "checkout-api", start + MIN) is None
    assert in_maintenance(windows, None, start + MIN) is None
    with pytest.raises(InvalidSilence):
        MaintenanceWindow("x", start, start)


# --- noise gate and outcomes -------------------------------------------------------------


def test_gate_open() -> None:
    assert gate_open(1, 1)
    assert not gate_open(2, 3)
    assert gate_open(3, 3)
    assert gate_open(4, 3)


def test_outcomes_are_strings_for_the_timeline() -> None:
    assert [o.value for o in AlertOutcome] == [
        "new_incident",
        "attached",
        "deduplicated",
        "silenced",
        "maintenance",
        "below_threshold",
        "no_incident_route",
        "resolved",
        "flapping",
        "cascade",
    ]
    assert AlertOutcome("silenced") is AlertOutcome.silenced
