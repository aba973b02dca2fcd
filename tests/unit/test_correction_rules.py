"""The rule of timestamp corrections: only reached milestones, nothing in the future,
and the milestones stay in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.errors import InvalidInput
from tocsin.incidents.corrections import check_corrections

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)


def times(**minutes: int | None) -> dict[str, datetime | None]:
    base: dict[str, datetime | None] = {
        "started_at": None,
        "detected_at": T0,
        "acknowledged_at": None,
        "mitigated_at": None,
        "resolved_at": None,
        "closed_at": None,
    }
    for name, value in minutes.items():
        base[name] = None if value is None else T0 + timedelta(minutes=value)
    return base


def test_a_reached_milestone_moves_and_the_others_stay() -> None:
    current = times(acknowledged_at=10, mitigated_at=30, resolved_at=40)
    after = check_corrections(current, {"acknowledged_at": T0 + timedelta(minutes=4)}, NOW)
    assert after["acknowledged_at"] == T0 + timedelta(minutes=4)
    assert after["resolved_at"] == current["resolved_at"]


def test_impact_may_begin_before_detection() -> None:
    after = check_corrections(times(), {"started_at": T0 - timedelta(minutes=20)}, NOW)
    assert after["started_at"] == T0 - timedelta(minutes=20)


@pytest.mark.parametrize(
    ("current", "changes", "field", "words"),
    [
        (times(), {"resolved_at": T0}, "resolved_at", "has not been resolved yet"),
        (times(), {"detected_at": NOW + timedelta(minutes=6)}, "detected_at", "future"),
        (
            times(acknowledged_at=10, resolved_at=40),
            {"resolved_at": T0 + timedelta(minutes=5)},
            "resolved_at",
            "before acknowledged_at",
        ),
        (times(), {"started_at": T0 + timedelta(minutes=1)}, "started_at", "before started_at"),
        (
            times(resolved_at=40, closed_at=50),
            {"resolved_at": T0 + timedelta(minutes=60)},
            "resolved_at",
            "closed_at",
        ),
    ],
)
def test_refusals_name_the_field(
    current: dict[str, datetime | None], changes: dict[str, datetime], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_corrections(current, changes, NOW)
    assert refused.value.field == field
    assert words in str(refused.value)
