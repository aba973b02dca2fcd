"""Schedule math: rotations, restrictions, overrides, handoffs and gaps, across DST.

Every expected instant below was worked out by hand from the 2026 calendars:
US daylight saving starts Sunday 2026-03-08 and ends Sunday 2026-11-01 (Pacific:
PST = UTC-8, PDT = UTC-7); the EU's starts Sunday 2026-03-29 and ends Sunday
2026-10-25 (Berlin: CET = UTC+1, CEST = UTC+2).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tocsin.oncall import (
    OVERRIDE_LAYER,
    Handoff,
    Override,
    Shift,
    coverage_gaps,
    handoffs,
    on_call,
    shifts,
)
from tocsin.policy import example_policy_text, parse_policy
from tocsin.policy.oncall import Schedule

H = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(*layers: dict[str, Any], timezone: str = "UTC", **extra: Any) -> Schedule:
    return Schedule.model_validate(
        {"name": "s", "timezone": timezone, "layers": list(layers), **extra}
    )


def layer(
    participants: list[str], start: str, rotation: str = "weekly", **extra: Any
) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "l"),
        "rotation": rotation,
        "start": start,
        "participants": participants,
        **extra,
    }


def timeline(found: list[Shift]) -> list[tuple[str, datetime, datetime]]:
    return [(s.person, s.start, s.end) for s in found]


EXAMPLE = parse_policy(example_policy_text())


def example_schedule(name: str) -> Schedule:
    found = EXAMPLE.schedule(name)
    assert found is not None
    return found


# --- Weekly primary and secondary ----------------------------------------


def test_weekly_primary_hands_off_monday_0900_utc() -> None:
    primary = example_schedule("platform-primary")
    assert handoffs(primary, utc(2026, 1, 5), utc(2026, 2, 3)) == [
        Handoff(utc(2026, 1, 5, 9), None, "alice"),  # the first turn starts
        Handoff(utc(2026, 1, 12, 9), "alice", "bob"),
        Handoff(utc(2026, 1, 19, 9), "bob", "charlie"),
        Handoff(utc(2026, 1, 26, 9), "charlie", "alice"),
        Handoff(utc(2026, 2, 2, 9), "alice", "bob"),
    ]
    assert on_call(primary, utc(2026, 1, 12, 8, 59)) == ["alice"]
    assert on_call(primary, utc(2026, 1, 12, 9)) == ["bob"]
    assert on_call(primary, utc(2026, 1, 5, 8, 59)) == []  # before the layer starts


def test_secondary_is_offset_by_a_day_and_never_the_primary() -> None:
    primary = example_schedule("platform-primary")
    secondary = example_schedule("platform-secondary")
    assert handoffs(secondary, utc(2026, 1, 7), utc(2026, 1, 28)) == [
        Handoff(utc(2026, 1, 13, 9), "charlie", "alice"),
        Handoff(utc(2026, 1, 20, 9), "alice", "bob"),
        Handoff(utc(2026, 1, 27, 9), "bob", "charlie"),
    ]
    # Monday 09:00 to Tuesday 09:00 last week's secondary stays on; then the outgoing
    # primary becomes the secondary.
    assert on_call(primary, utc(2026, 1, 12, 12)) == ["bob"]
    assert on_call(secondary, utc(2026, 1, 12, 12)) == ["charlie"]
    assert on_call(secondary, utc(2026, 1, 13, 9)) == ["alice"]
    for hour in range(0, 24 * 7 * 6, 1):
        at = utc(2026, 1, 6, 9) + hour * H
        assert on_call(primary, at) != on_call(secondary, at), at


# --- The IC rotation with restrictions ------------------------------------


def la(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A wall-clock time in Los Angeles in March 2026 before the change (PST, UTC-8)."""
    return utc(year, month, day, hour) + 8 * H


def test_ic_rotation_restrictions_across_a_week() -> None:
    ic = example_schedule("ic-rotation")
    week = shifts(ic, la(2026, 3, 2), la(2026, 3, 7, 12))  # Monday 00:00 .. Saturday noon
    assert timeline(week) == [
        ("charlie", la(2026, 3, 2), la(2026, 3, 2, 9)),
        ("alice", la(2026, 3, 2, 9), la(2026, 3, 2, 17)),  # Monday
        ("charlie", la(2026, 3, 2, 17), la(2026, 3, 3, 9)),
        ("alice", la(2026, 3, 3, 9), la(2026, 3, 3, 17)),  # Tuesday
        ("charlie", la(2026, 3, 3, 17), la(2026, 3, 4, 9)),
        ("alice", la(2026, 3, 4, 9), la(2026, 3, 4, 17)),  # Wednesday
        ("charlie", la(2026, 3, 4, 17), la(2026, 3, 5, 9)),
        ("bob", la(2026, 3, 5, 9), la(2026, 3, 5, 17)),  # Thursday
        ("charlie", la(2026, 3, 5, 17), la(2026, 3, 6, 9)),
        ("bob", la(2026, 3, 6, 9), la(2026, 3, 6, 17)),  # Friday
        ("charlie", la(2026, 3, 6, 17), la(2026, 3, 7, 12)),  # the weekend
    ]
    assert [s.layer for s in week[:3]] == ["after-hours", "early-week", "after-hours"]
    assert coverage_gaps(ic, la(2026, 3, 2), la(2026, 3, 9)) == []
    # Across the DST change the windows stay at 09:00-17:00 local: Monday 2026-03-09
    # 09:00 PDT is 16:00 UTC.
    assert on_call(ic, utc(2026, 3, 9, 15, 59)) == ["charlie"]
    assert on_call(ic, utc(2026, 3, 9, 16)) == ["alice"]
    assert on_call(ic, utc(2026, 3, 10, 0)) == ["charlie"]  # 17:00 PDT


def test_restriction_past_midnight_and_whole_day() -> None:
    nights = schedule(
        layer(
            ["nora"],
            "2026-01-01T00:00",
            restrictions=[
                {"days": ["fri"], "from": "22:00", "to": "06:00"},
                {"days": ["sun"], "from": "00:00", "to": "00:00"},
            ],
        ),
        timezone="Europe/Berlin",
    )
    # Friday 2026-03-27 22:00 CET .. Saturday 06:00 CET; Sunday 2026-03-29 is the
    # 23-hour day: 00:00 CET (23:00Z Saturday) .. Monday 00:00 CEST (22:00Z Sunday).
    assert timeline(shifts(nights, utc(2026, 3, 27), utc(2026, 3, 31))) == [
        ("nora", utc(2026, 3, 27, 21), utc(2026, 3, 28, 5)),
        ("nora", utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),
    ]


# --- DST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "window_start", "expected"),
    [
        (  # US spring forward: Sunday 2026-03-08
            "America/Los_Angeles",
            utc(2026, 3, 1),
            [utc(2026, 3, 2, 17), utc(2026, 3, 9, 16), utc(2026, 3, 16, 16)],
        ),
        (  # US fall back: Sunday 2026-11-01
            "America/Los_Angeles",
            utc(2026, 10, 25),
            [utc(2026, 10, 26, 16), utc(2026, 11, 2, 17), utc(2026, 11, 9, 17)],
        ),
        (  # EU spring forward: Sunday 2026-03-29
            "Europe/Berlin",
            utc(2026, 3, 22),
            [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)],
        ),
        (  # EU fall back: Sunday 2026-10-25
            "Europe/Berlin",
            utc(2026, 10, 18),
            [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)],
        ),
    ],
)
def test_weekly_monday_0900_local_across_dst(
    zone: str, window_start: datetime, expected: list[datetime]
) -> None:
    weekly = schedule(layer(["a", "b", "c"], "2026-01-05T09:00"), timezone=zone)
    found = handoffs(weekly, window_start, window_start + timedelta(days=21))
    assert [h.at for h in found] == expected
    # 167 hours in the week that loses an hour, 169 in the one that gains it.
    lengths = {expected[1] - expected[0], expected[2] - expected[1]}
    assert lengths in ({167 * H, 168 * H}, {169 * H, 168 * H})


def test_daily_rotation_across_the_dst_day() -> None:
    daily = schedule(
        layer(["a", "b"], "2026-03-06T09:00", rotation="daily"), timezone="America/Los_Angeles"
    )
    assert timeline(shifts(daily, utc(2026, 3, 6, 17), utc(2026, 3, 10, 16))) == [
        ("a", utc(2026, 3, 6, 17), utc(2026, 3, 7, 17)),  # Friday 09:00 PST
        ("b", utc(2026, 3, 7, 17), utc(2026, 3, 8, 16)),  # 23 hours: Sunday 09:00 PDT
        ("a", utc(2026, 3, 8, 16), utc(2026, 3, 9, 16)),
        ("b", utc(2026, 3, 9, 16), utc(2026, 3, 10, 16)),
    ]


def test_skipped_local_time_happens_at_the_jump_and_repeated_one_the_first_time() -> None:
    spring = schedule(
        layer(["a", "b"], "2026-03-07T02:30", rotation="daily"), timezone="America/Los_Angeles"
    )
    # 2026-03-08 goes from 01:59:59 PST to 03:00 PDT: 02:30 happens at the jump, 03:00
    # PDT (10:00Z); the day after it is 02:30 PDT again (09:30Z).
    assert [h.at for h in handoffs(spring, utc(2026, 3, 7, 11), utc(2026, 3, 10))] == [
        utc(2026, 3, 8, 10),
        utc(2026, 3, 9, 9, 30),
    ]
    fall = schedule(
        layer(["a", "b"], "2026-10-31T01:30", rotation="daily"), timezone="America/Los_Angeles"
    )
    # 01:30 happens twice on 2026-11-01: the first is 01:30 PDT (08:30Z).
    assert [h.at for h in handoffs(fall, utc(2026, 10, 31, 9), utc(2026, 11, 3))] == [
        utc(2026, 11, 1, 8, 30),
        utc(2026, 11, 2, 9, 30),
    ]


def test_custom_whole_days_keep_local_time() -> None:
    two_days = schedule(
        layer(["a", "b"], "2026-03-06T09:00", rotation="custom", length="2d"),
        timezone="America/Los_Angeles",
    )
    assert [h.at for h in handoffs(two_days, utc(2026, 3, 7), utc(2026, 3, 13))] == [
        utc(2026, 3, 8, 16),  # Sunday 09:00 PDT, 47 hours after Friday 09:00 PST
        utc(2026, 3, 10, 16),
        utc(2026, 3, 12, 16),
    ]


# --- overrides, gaps, handoffs ----------------------------------------------------------


def test_override_wins_and_splits_the_shift() -> None:
    primary = example_schedule("platform-primary")
    cover = Override("dana", utc(2026, 1, 7, 12), utc(2026, 1, 8, 12))
    found = shifts(primary, utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), [cover])
    assert [(s.person, s.start, s.end, s.layer) for s in found] == [
        ("alice", utc(2026, 1, 5, 9), utc(2026, 1, 7, 12), "weekly"),
        ("dana", utc(2026, 1, 7, 12), utc(2026, 1, 8, 12), OVERRIDE_LAYER),
        ("alice", utc(2026, 1, 8, 12), utc(2026, 1, 12, 9), "weekly"),
    ]
    assert handoffs(primary, utc(2026, 1, 6), utc(2026, 1, 10), [cover]) == [
        Handoff(utc(2026, 1, 7, 12), "alice", "dana"),
        Handoff(utc(2026, 1, 8, 12), "dana", "alice"),
    ]


def test_later_override_wins_and_overrides_fill_gaps() -> None:
    office = schedule(
        layer(
            ["alice"],
            "2026-01-05T00:00",
            restrictions=[
                {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}
            ],
        ),
        overrides=[
            {"person": "static", "start": "2026-01-05T12:00:00Z", "end": "2026-01-05T14:00:00Z"}
        ],
    )
    runtime = [
        Override("bob", utc(2026, 1, 5, 16), utc(2026, 1, 5, 20)),  # runs into the gap
        Override("carol", utc(2026, 1, 5, 13), utc(2026, 1, 5, 17)),  # later: wins over both
    ]
    assert timeline(shifts(office, utc(2026, 1, 5, 8), utc(2026, 1, 5, 22), runtime)) == [
        ("alice", utc(2026, 1, 5, 9), utc(2026, 1, 5, 12)),
        ("static", utc(2026, 1, 5, 12), utc(2026, 1, 5, 13)),
        ("carol", utc(2026, 1, 5, 13), utc(2026, 1, 5, 17)),
        ("bob", utc(2026, 1, 5, 17), utc(2026, 1, 5, 20)),
    ]
    assert coverage_gaps(office, utc(2026, 1, 5, 8), utc(2026, 1, 5, 22), runtime) == [
        (utc(2026, 1, 5, 8), utc(2026, 1, 5, 9)),
        (utc(2026, 1, 5, 20), utc(2026, 1, 5, 22)),
    ]
    # The edges of the gaps are handoffs to and from nobody.
    assert handoffs(office, utc(2026, 1, 5, 8), utc(2026, 1, 5, 22), runtime) == [
        Handoff(utc(2026, 1, 5, 9), None, "alice"),
        Handoff(utc(2026, 1, 5, 12), "alice", "static"),
        Handoff(utc(2026, 1, 5, 13), "static", "carol"),
        Handoff(utc(2026, 1, 5, 17), "carol", "bob"),
        Handoff(utc(2026, 1, 5, 20), "bob", None),
    ]


def test_later_layers_win_where_they_have_someone() -> None:
    stacked = schedule(
        layer(["base"], "2026-01-01T00:00", name="base"),
        layer(["top"], "2026-01-10T00:00", name="top"),  # starts later
    )
    assert timeline(shifts(stacked, utc(2026, 1, 9), utc(2026, 1, 11))) == [
        ("base", utc(2026, 1, 9), utc(2026, 1, 10)),
        ("top", utc(2026, 1, 10), utc(2026, 1, 11)),
    ]
    assert coverage_gaps(stacked, utc(2025, 12, 31), utc(2026, 1, 2)) == [
        (utc(2025, 12, 31), utc(2026, 1, 1))
    ]


def test_single_participant_turns_merge_and_long_ranges_are_cheap() -> None:
    solo = schedule(layer(["solo"], "2026-01-05T09:00"))
    # Ten years of a weekly layer: one shift, computed from ~520 turns, not minutes.
    assert timeline(shifts(solo, utc(2026, 1, 1), utc(2036, 1, 1))) == [
        ("solo", utc(2026, 1, 5, 9), utc(2036, 1, 1))
    ]
    trio = schedule(layer(["a", "b", "c"], "2026-01-05T09:00"), timezone="Europe/Berlin")
    assert len(shifts(trio, utc(2026, 1, 5, 8), utc(2036, 1, 5, 8))) == 522


def test_naive_and_empty_ranges() -> None:
    primary = example_schedule("platform-primary")
    with pytest.raises(ValueError, match="timezone-aware"):
        shifts(primary, datetime(2026, 1, 5), utc(2026, 1, 6))
    assert shifts(primary, utc(2026, 1, 6), utc(2026, 1, 6)) == []
    assert handoffs(primary, utc(2026, 1, 6), utc(2026, 1, 5)) == []
