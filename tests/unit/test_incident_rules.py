"""The incident state machine, without a database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.incidents.rules import (
    ACTIVE_STATUSES,
    IllegalTransition,
    IncidentStatus,
    Milestones,
    allowed_transitions,
    check_transition,
    format_incident_id,
    parse_incident_id,
    record_milestones,
)

S = IncidentStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_happy_path_is_allowed_step_by_step() -> None:
    path = [
        S.triggered,
        S.acknowledged,
        S.investigating,
        S.identified,
        S.monitoring,
        S.resolved,
        S.closed,
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.triggered, S.closed),
        (S.acknowledged, S.triggered),
        (S.investigating, S.acknowledged),
        (S.monitoring, S.closed),
        (S.closed, S.triggered),
        (S.closed, S.resolved),
        (S.resolved, S.investigating),
    ],
)
def test_illegal_transitions_name_the_allowed_ones(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    message = str(caught.value)
    assert f"cannot move from {current} to {target}" in message
    for allowed in allowed_transitions(current):
        assert allowed.value in message


def test_closed_is_final() -> None:
    assert allowed_transitions(S.closed) == ()
    with pytest.raises(IllegalTransition, match="closed is final"):
        check_transition(S.closed, S.triggered)


def test_working_stages_may_go_back_when_a_hypothesis_was_wrong() -> None:
    check_transition(S.identified, S.investigating)
    check_transition(S.monitoring, S.investigating)


def test_reopen_only_from_resolved() -> None:
    check_transition(S.resolved, S.triggered)
    for status in ACTIVE_STATUSES:
        assert S.triggered not in allowed_transitions(status)


def test_resolving_unacknowledged_incident_sets_ack_mitigation_and_resolution() -> None:
    m = record_milestones(Milestones(), S.triggered, S.resolved, T0)
    assert m == Milestones(acknowledged_at=T0, mitigated_at=T0, resolved_at=T0)


def test_first_acknowledgement_and_mitigation_are_kept() -> None:
    m = record_milestones(Milestones(), S.triggered, S.acknowledged, T0)
    m = record_milestones(m, S.acknowledged, S.monitoring, T0 + timedelta(minutes=10))
    m = record_milestones(m, S.monitoring, S.investigating, T0 + timedelta(minutes=20))
    m = record_milestones(m, S.investigating, S.resolved, T0 + timedelta(minutes=30))
    assert m.acknowledged_at == T0
    assert m.mitigated_at == T0 + timedelta(minutes=10)
    assert m.resolved_at == T0 + timedelta(minutes=30)


def test_reopen_clears_resolution_but_keeps_response_history() -> None:
    resolved = Milestones(acknowledged_at=T0, mitigated_at=T0, resolved_at=T0)
    reopened = record_milestones(resolved, S.resolved, S.triggered, T0 + timedelta(hours=1))
    assert reopened.resolved_at is None
    assert reopened.acknowledged_at == T0


def test_close_records_closure() -> None:
    later = T0 + timedelta(days=1)
    m = record_milestones(Milestones(resolved_at=T0), S.resolved, S.closed, later)
    assert m.closed_at == later
    assert m.resolved_at == T0


@pytest.mark.parametrize(("text", "number"), [("INC-12", 12), ("inc-3", 3), (" 7 ", 7)])
def test_incident_ids_are_read_in_every_spelling(text: str, number: int) -> None:
    assert parse_incident_id(text) == number
    assert format_incident_id(number) == f"INC-{number}"


@pytest.mark.parametrize("text", ["INC-", "INC-x", "12a", "", "INC--1"])
def test_other_ids_are_not_incidents(text: str) -> None:
    assert parse_incident_id(text) is None


def test_tocsin_moving_an_incident_by_itself_acknowledges_nothing() -> None:
    m = record_milestones(Milestones(), S.triggered, S.monitoring, T0, by_person=False)
    assert m.acknowledged_at is None
    assert m.mitigated_at == T0
