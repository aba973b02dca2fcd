"""What a new alert is believed to cost, which sizes the transactions of alert
ingestion: pessimistic until shown, then learnt in steps."""

from __future__ import annotations

import pytest

from tocsin.web.inbox_drain import BUDGET_MS, CostEstimate


def test_an_unknown_cost_is_taken_for_an_alert_that_opens_an_incident() -> None:
    cost = CostEstimate()
    assert cost.units_within(BUDGET_MS) <= 3
    assert cost.ms(100) >= 1000  # a request of 100 new alerts is not decided at once


def test_the_first_transaction_replaces_the_guess() -> None:
    cost = CostEstimate()
    cost.observe(elapsed_ms=20.0, units=100)
    assert cost.per_unit == pytest.approx(0.2)


def test_one_slow_transaction_moves_the_estimate_a_step() -> None:
    """A commit that waited for the disk must not shrink the next groups of a flood of
    cheap repeats to a few requests; alerts that stay dear are learnt within a few."""
    cost = CostEstimate()
    cost.observe(elapsed_ms=20.0, units=100)  # a storm: 0.2 ms a new alert
    cost.observe(elapsed_ms=200.0, units=100)  # one slow commit
    assert cost.units_within(BUDGET_MS) > 20
    for _ in range(8):
        cost.observe(elapsed_ms=2_600.0, units=100)  # now each opens an incident
    assert cost.units_within(BUDGET_MS) < 3


def test_cheaper_alerts_move_the_estimate_a_step_at_a_time() -> None:
    cost = CostEstimate()
    cost.observe(elapsed_ms=1_000.0, units=100)  # 10 ms each
    cost.observe(elapsed_ms=20.0, units=100)  # one quick transaction
    assert 2.0 < cost.per_unit < 10.0
    for _ in range(40):
        cost.observe(elapsed_ms=20.0, units=100)
    assert cost.per_unit == pytest.approx(0.2, rel=0.05)


def test_a_transaction_of_a_few_alerts_only_shows_them_cheaper_a_step_at_a_time() -> None:
    """Its fixed cost makes each alert look dearer: a few slow alerts say nothing, a
    few quick ones let the groups grow until one is large enough to learn from."""
    cost = CostEstimate()
    cost.observe(elapsed_ms=200.0, units=2)  # 100 ms an alert, or a slow commit
    assert cost.per_unit == CostEstimate.UNKNOWN_MS
    cost.observe(elapsed_ms=4.0, units=2)  # 2 ms each, fixed cost included
    assert 2.0 < cost.per_unit < CostEstimate.UNKNOWN_MS
    for _ in range(30):
        cost.observe(elapsed_ms=4.0, units=2)
    assert cost.per_unit == pytest.approx(2.0, rel=0.05)
    cost.observe(elapsed_ms=10.0, units=100)  # the first group large enough: believed
    assert cost.per_unit == pytest.approx(0.1)
