"""Paging timers without a database: their keys (fixed: jobs already stored must keep
matching) and when a timer that fires is stale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tocsin.incidents.paging import TimerOutcome
from tocsin.incidents.paging.staleness import (
    Escalation,
    EscalationState,
    ack_sla_is_stale,
    escalate_is_stale,
    is_active,
    stakeholder_is_stale,
)
from tocsin.incidents.paging.timers import JobKeys

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_job_keys_keep_their_stored_shape() -> None:
    keys = JobKeys(42, 3)
    assert keys.incident == "inc:42/"
    assert keys.update_reminders == "inc:42/update-reminder/"
    assert keys.update_reminder(T0) == "inc:42/update-reminder/2026-03-02T09:00:00+00:00"
    assert keys.escalation == "inc:42/e3/"
    assert keys.escalations == "inc:42/e3/escalate/"
    assert keys.escalate(2, 1) == "inc:42/e3/escalate/2/r1"
    assert keys.ack_slas == "inc:42/e3/ack-sla/"
    assert keys.ack_sla("SEV1") == "inc:42/e3/ack-sla/SEV1"
    assert keys.stakeholders == "inc:42/e3/stakeholder/"
    assert keys.stakeholder("SEV2", 0) == "inc:42/e3/stakeholder/SEV2/0"
    assert keys.page(0, 0) == "inc:42/e3/page/0/r0"
    assert keys.reassign(4) == "inc:42/e3/reassign/4"
    assert keys.reminder(T0) == "inc:42/e3/update-reminder/2026-03-02T09:00:00+00:00"


def test_every_key_of_an_escalation_falls_under_its_prefixes() -> None:
    keys = JobKeys(7, 1)
    assert keys.escalate(1, 0).startswith(keys.escalations)
    assert keys.ack_sla("SEV1").startswith(keys.ack_slas)
    assert keys.stakeholder("SEV1", 2).startswith(keys.stakeholders)
    for key in (keys.escalations, keys.update_reminders, keys.page(0, 0)):
        assert key.startswith(keys.incident)
    # the prefix of incident 7 does not cover incident 70
    assert not JobKeys(70, 1).escalations.startswith(keys.incident)


def test_escalation_keys_need_the_epoch() -> None:
    assert JobKeys(5).update_reminders == "inc:5/update-reminder/"
    with pytest.raises(ValueError, match="epoch"):
        _ = JobKeys(5).escalations


LIVE = Escalation(epoch=2, state=EscalationState.active, step=0)


@pytest.mark.parametrize(
    ("timer", "escalation", "status", "stale"),
    [
        ({"epoch": 2, "step": 1}, LIVE, "triggered", False),
        ({"epoch": 1, "step": 1}, LIVE, "triggered", True),  # an earlier epoch's timer
        ({"epoch": 2, "step": 2}, LIVE, "triggered", True),  # not the next step
        ({"epoch": 2, "step": 0}, LIVE, "triggered", True),  # a step already paged
        ({"epoch": 2, "step": 1}, LIVE, "acknowledged", True),
        ({"epoch": 2, "step": 1}, None, "triggered", True),  # no escalation at all
        (
            {"epoch": 2, "step": 1},
            Escalation(2, EscalationState.exhausted, 0),
            "triggered",
            True,
        ),
        ({}, LIVE, "triggered", True),
    ],
)
def test_an_escalation_timer_pages_only_the_next_step_of_a_live_climb(
    timer: dict[str, Any], escalation: Escalation | None, status: str, stale: bool
) -> None:
    assert escalate_is_stale(timer, escalation=escalation, status=status) is stale


@pytest.mark.parametrize(
    ("epoch", "status", "severity", "stale"),
    [
        (1, "triggered", "SEV1", False),
        (1, "investigating", "SEV1", False),  # acknowledged: stakeholders still hear
        (1, "resolved", "SEV1", True),
        (1, "triggered", "SEV2", True),  # the severity changed since
        (2, "triggered", "SEV1", True),
        (None, "triggered", "SEV1", True),
    ],
)
def test_a_stakeholder_timer_informs_while_open_at_its_severity(
    epoch: int | None, status: str, severity: str, stale: bool
) -> None:
    timer = {"epoch": 1, "severity": "SEV1", "index": 0}
    assert stakeholder_is_stale(timer, epoch=epoch, status=status, severity=severity) is stale


@pytest.mark.parametrize(
    ("epoch", "status", "severity", "stale"),
    [
        (1, "triggered", "SEV1", False),
        (1, "acknowledged", "SEV1", True),  # someone answered in time
        (1, "triggered", "SEV3", True),
        (3, "triggered", "SEV1", True),
        (None, "triggered", "SEV1", True),
    ],
)
def test_an_ack_sla_timer_is_breached_only_while_unacknowledged(
    epoch: int | None, status: str, severity: str, stale: bool
) -> None:
    timer = {"epoch": 1, "severity": "SEV1"}
    assert ack_sla_is_stale(timer, epoch=epoch, status=status, severity=severity) is stale


def test_open_statuses_are_active() -> None:
    assert is_active("triggered") and is_active("monitoring")
    assert not is_active("resolved") and not is_active("closed")


def test_timer_outcomes_log_as_their_former_strings() -> None:
    assert TimerOutcome.stale == "stale"
    assert f"{TimerOutcome.not_due}" == "not_due"
    assert str(TimerOutcome.paged) == "paged"  # as the engine logs it (%s)
