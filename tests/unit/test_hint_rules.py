"""The root-cause ranking rules (pure): a change at or after impact start never ranks,
more evidence never lowers a hint, equal hints keep one order whatever order the facts
came in; and the examples a responder would check by eye."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.hints.rules import (
    AlertFact,
    ChangeFact,
    Hint,
    IncidentFact,
    Situation,
    Weights,
    compute,
    dependency_depths,
    rank,
    resource_kind,
)

IMPACT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SITUATION = Situation(
    services=("checkout-api",),
    dependencies={"payments-db": 1, "auth-service": 1, "disk-store": 2},
    impact_start=IMPACT,
    hosts=("web-1",),
)
SERVICES = ["checkout-api", "payments-db", "auth-service", "disk-store", "unrelated"]
TITLES = [
    "High error rate",
    "Memory usage above 90%",
    "CPU throttling",
    "Disk almost full",
    "Too many connections",
    "Thread pool saturated",
    "Latency high",
]
OFFSETS = st.integers(min_value=-240, max_value=60).map(lambda m: IMPACT + timedelta(minutes=m))


def _changes(base: int) -> st.SearchStrategy[list[ChangeFact]]:
    one = st.builds(
        lambda i, svc, at: ChangeFact(
            id=base + i, service=svc, summary=f"deploy {i}", timestamp=at
        ),
        st.integers(0, 99),
        st.sampled_from(SERVICES),
        OFFSETS,
    )
    return st.lists(one, max_size=8, unique_by=lambda c: c.id)


def _alerts(base: int) -> st.SearchStrategy[list[AlertFact]]:
    one = st.builds(
        lambda i, svc, title, at, firing, host: AlertFact(
            id=base + i, service=svc, title=title, started_at=at, firing=firing, host=host
        ),
        st.integers(0, 99),
        st.sampled_from(SERVICES),
        st.sampled_from(TITLES),
        OFFSETS,
        st.booleans(),
        st.sampled_from([None, "web-1", "db-1"]),
    )
    return st.lists(one, max_size=8, unique_by=lambda a: a.id)


def _incidents(base: int) -> st.SearchStrategy[list[IncidentFact]]:
    one = st.builds(
        lambda i, svcs, at, is_open: IncidentFact(
            ref=f"INC-{base + i}",
            title=f"incident {i}",
            services=tuple(svcs),
            started_at=at,
            open=is_open,
        ),
        st.integers(0, 99),
        st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True),
        OFFSETS,
        st.booleans(),
    )
    return st.lists(one, max_size=5, unique_by=lambda i: i.ref)


def _past(base: int) -> st.SearchStrategy[list[IncidentFact]]:
    one = st.builds(
        lambda i, score: IncidentFact(
            ref=f"INC-{base + i}",
            title=f"past {i}",
            services=("checkout-api",),
            started_at=IMPACT - timedelta(days=3),
            open=False,
            similarity=score,
            root_cause="connection pool too small",
        ),
        st.integers(0, 99),
        st.floats(min_value=0, max_value=1),
    )
    return st.lists(one, max_size=3, unique_by=lambda i: i.ref)


def _all(hints: list[Hint]) -> dict[str, float]:
    return {h.key: h.confidence for h in hints}


@settings(max_examples=300, deadline=None)
@given(changes=_changes(0), alerts=_alerts(0), incidents=_incidents(0))
def test_a_change_at_or_after_impact_start_never_ranks(
    changes: list[ChangeFact], alerts: list[AlertFact], incidents: list[IncidentFact]
) -> None:
    ranked = compute(SITUATION, changes=changes, alerts=alerts, incidents=incidents)
    by_id = {c.id: c for c in changes}
    for hint in ranked:
        if hint.kind == "change":
            change = by_id[int(hint.key.split(":")[1])]
            assert change.timestamp < IMPACT
    early = [c for c in changes if c.timestamp < IMPACT]
    assert compute(SITUATION, changes=early, alerts=alerts, incidents=incidents) == ranked


@settings(max_examples=300, deadline=None)
@given(
    changes=_changes(0),
    alerts=_alerts(0),
    incidents=_incidents(0),
    past=_past(0),
    more_changes=_changes(1000),
    more_alerts=_alerts(1000),
    more_incidents=_incidents(1000),
    more_past=_past(1000),
)
def test_more_evidence_never_lowers_a_hint(
    changes: list[ChangeFact],
    alerts: list[AlertFact],
    incidents: list[IncidentFact],
    past: list[IncidentFact],
    more_changes: list[ChangeFact],
    more_alerts: list[AlertFact],
    more_incidents: list[IncidentFact],
    more_past: list[IncidentFact],
) -> None:
    before = _all(
        compute(SITUATION, changes=changes, alerts=alerts, incidents=incidents, past=past)
    )
    after = _all(
        compute(
            SITUATION,
            changes=changes + more_changes,
            alerts=alerts + more_alerts,
            incidents=incidents + more_incidents,
            past=past + more_past,
        )
    )
    for key, confidence in before.items():
        assert key in after, key
        assert after[key] >= confidence, key


@settings(max_examples=200, deadline=None)
@given(
    changes=_changes(0),
    alerts=_alerts(0),
    incidents=_incidents(0),
    past=_past(0),
    rng=st.randoms(use_true_random=False),
)
def test_ties_are_stable_whatever_order_the_facts_came_in(
    changes: list[ChangeFact],
    alerts: list[AlertFact],
    incidents: list[IncidentFact],
    past: list[IncidentFact],
    rng: random.Random,
) -> None:
    ranked = compute(SITUATION, changes=changes, alerts=alerts, incidents=incidents, past=past)
    shuffled = [list(x) for x in (changes, alerts, incidents, past)]
    for items in shuffled:
        rng.shuffle(items)
    again = compute(
        SITUATION, changes=shuffled[0], alerts=shuffled[1], incidents=shuffled[2], past=shuffled[3]
    )
    assert [h.key for h in again] == [h.key for h in ranked]
    assert again == ranked
    confidences = [h.confidence for h in ranked]
    assert confidences == sorted(confidences, reverse=True)


@given(st.lists(st.sampled_from(["change", "upstream", "resource", "similar"]), max_size=6))
def test_equal_confidences_rank_by_kind_then_key(kinds: list[str]) -> None:
    hints = [
        Hint(key=f"{kind}:{i}", kind=kind, confidence=0.5, explanation="")
        for i, kind in enumerate(kinds)
    ]
    ranked = rank(hints)
    assert rank(list(reversed(hints))) == ranked
    order = ["change", "upstream", "resource", "similar"]
    assert [order.index(h.kind) for h in ranked] == sorted(order.index(k) for k in kinds)


def _change(minutes_before: int, service: str = "checkout-api", cid: int = 1) -> ChangeFact:
    return ChangeFact(
        id=cid,
        service=service,
        summary="Deploy 1.4.2",
        timestamp=IMPACT - timedelta(minutes=minutes_before),
        href="https://ci.example.com/builds/812",
    )


def test_a_closer_change_is_more_likely_and_within_ten_minutes_counts_fully() -> None:
    close, medium, far = (
        compute(SITUATION, changes=[_change(m)])[0].confidence for m in (5, 60, 115)
    )
    assert close == pytest.approx(0.85)
    assert close > medium > far > 0
    assert compute(SITUATION, changes=[_change(121)]) == []


def test_a_change_on_the_service_itself_is_more_likely_than_on_a_dependency() -> None:
    own = compute(SITUATION, changes=[_change(5)])[0]
    dep = compute(SITUATION, changes=[_change(5, "payments-db")])[0]
    far = compute(SITUATION, changes=[_change(5, "disk-store")])[0]
    assert own.confidence > dep.confidence > far.confidence
    assert "payments-db, a dependency" in dep.explanation
    assert compute(SITUATION, changes=[_change(5, "unrelated")]) == []
    assert own.evidence[0].href == "https://ci.example.com/builds/812"


def test_a_deploy_that_broke_a_failing_dependency_ranks_above_the_dependency() -> None:
    db_incident = IncidentFact(
        ref="INC-1",
        title="payments-db down",
        services=("payments-db",),
        started_at=IMPACT - timedelta(minutes=2),
        href="/dashboard/incidents/INC-1",
    )
    ranked = compute(SITUATION, changes=[_change(6, "payments-db")], incidents=[db_incident])
    assert [h.kind for h in ranked] == ["change", "upstream"]
    top = ranked[0]
    assert top.confidence > ranked[1].confidence
    assert [e.ref for e in top.evidence] == ["change 1", "INC-1"]
    assert "link this incident as downstream of it" in ranked[1].explanation
    linked = Situation(
        services=SITUATION.services,
        dependencies=SITUATION.dependencies,
        impact_start=IMPACT,
        linked=("INC-1",),
    )
    (upstream,) = compute(linked, incidents=[db_incident])
    assert upstream.explanation.endswith("this incident is linked downstream of it")


def test_an_upstream_incident_that_began_after_impact_start_is_not_suspected() -> None:
    later = IncidentFact(
        ref="INC-9", title="db", services=("payments-db",), started_at=IMPACT + timedelta(minutes=1)
    )
    assert compute(SITUATION, incidents=[later]) == []


def test_resource_alerts_on_the_service_or_its_hosts() -> None:
    alerts = [
        AlertFact(id=1, service="checkout-api", title="Memory usage above 90%", started_at=IMPACT),
        AlertFact(id=2, service=None, title="OOM killed", started_at=IMPACT, host="web-1"),
        AlertFact(id=3, service="unrelated", title="Disk almost full", started_at=IMPACT),
    ]
    ranked = compute(SITUATION, alerts=alerts)
    assert [h.key for h in ranked] == ["resource:memory"]
    assert [e.ref for e in ranked[0].evidence] == ["alert 1", "alert 2"]
    assert ranked[0].confidence > 0.75


def test_resource_words() -> None:
    assert resource_kind("PostgreSQL too many clients") == "connections"
    assert resource_kind("node_filesystem_avail low") == "disk"
    assert resource_kind("HTTP 500s") is None


def test_a_similar_past_incident_brings_its_root_cause() -> None:
    past = IncidentFact(
        ref="INC-4",
        title="checkout 5xx",
        services=("checkout-api",),
        started_at=IMPACT - timedelta(days=9),
        open=False,
        similarity=0.8,
        root_cause="connection pool too small",
        category="technical",
        action_items=("Raise the pool size",),
    )
    (hint,) = compute(SITUATION, past=[past])
    assert hint.confidence == pytest.approx(0.6 * 0.8)
    assert "connection pool too small" in hint.explanation
    assert "Raise the pool size" in hint.explanation


def test_a_weight_of_zero_turns_a_rule_off() -> None:
    assert compute(SITUATION, changes=[_change(5)], weights=Weights(change=0)) == []


def test_dependency_depths_take_the_shortest_path_and_leave_the_services_out() -> None:
    edges = {"web": ["checkout", "auth"], "checkout": ["db", "auth"], "db": ["disk"]}
    assert dependency_depths(["web"], edges) == {"checkout": 1, "auth": 1, "db": 2, "disk": 3}
    assert dependency_depths(["checkout", "db"], edges) == {"auth": 1, "disk": 1}


def test_of_two_changes_to_a_failing_dependency_the_closer_one_ranks_first() -> None:
    db_incident = IncidentFact(
        ref="INC-1", title="db", services=("payments-db",), started_at=IMPACT - timedelta(minutes=1)
    )
    changes = [_change(50, "payments-db", cid=1), _change(4, "payments-db", cid=2)]
    ranked = compute(SITUATION, changes=changes, incidents=[db_incident])
    assert [h.key for h in ranked] == ["change:2", "upstream:payments-db", "change:1"]
