"""Rotations shorter than a day keep their local handoff times across both DST changes.

The 2026 changes used below (worked out from the tz database):

- Europe/Berlin: Sunday 03-29 02:00 CET -> 03:00 CEST (01:00Z); Sunday 10-25 03:00 CEST
  -> 02:00 CET (01:00Z). CET = UTC+1, CEST = UTC+2.
- America/New_York: Sunday 03-08 02:00 EST -> 03:00 EDT (07:00Z); Sunday 11-01 02:00 EDT
  -> 01:00 EST (06:00Z). EST = UTC-5, EDT = UTC-4.
- Australia/Sydney: Sunday 04-05 03:00 AEDT -> 02:00 AEST (04-04 16:00Z); Sunday 10-04
  02:00 AEST -> 03:00 AEDT (10-03 16:00Z). AEST = UTC+10, AEDT = UTC+11.
- Australia/Lord_Howe moves by half an hour: Sunday 10-04 02:00 -> 02:30 (10-03 15:30Z).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.oncall import coverage_gaps, handoffs, on_call, shifts
from tocsin.oncall.rules import turn_starts
from tocsin.policy.oncall import Schedule

H = timedelta(hours=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def rotation(zone: str, start: str, length: str, people: list[str]) -> Schedule:
    layer: dict[str, Any] = {
        "name": "sun",
        "rotation": "custom",
        "length": length,
        "start": start,
        "participants": people,
    }
    return Schedule.model_validate({"name": "s", "timezone": zone, "layers": [layer]})


# Each change, with a window of a few days around it and the one turn that differs.
CHANGES = [
    # zone, first local day of the window, UTC handoffs around the change (worked by hand)
    (
        "Europe/Berlin",
        "2026-03-27T09:00",
        [utc(3, 28, 8), utc(3, 28, 20), utc(3, 29, 7), utc(3, 29, 19)],
    ),
    (
        "Europe/Berlin",
        "2026-10-23T09:00",
        [utc(10, 24, 7), utc(10, 24, 19), utc(10, 25, 8), utc(10, 25, 20)],
    ),
    (
        "America/New_York",
        "2026-03-06T09:00",
        [utc(3, 7, 14), utc(3, 8, 2), utc(3, 8, 13), utc(3, 9, 1)],
    ),
    (
        "America/New_York",
        "2026-10-30T09:00",
        [utc(10, 31, 13), utc(11, 1, 1), utc(11, 1, 14), utc(11, 2, 2)],
    ),
    (  # autumn in Sydney: AEDT -> AEST in April
        "Australia/Sydney",
        "2026-04-03T09:00",
        [utc(4, 3, 22), utc(4, 4, 10), utc(4, 4, 23), utc(4, 5, 11)],
    ),
    (  # spring in Sydney: AEST -> AEDT in October
        "Australia/Sydney",
        "2026-10-02T09:00",
        [utc(10, 2, 23), utc(10, 3, 11), utc(10, 3, 22), utc(10, 4, 10)],
    ),
]


@pytest.mark.parametrize(("zone", "start", "around"), CHANGES)
def test_twelve_hours_from_0900_hand_off_at_0900_and_2100_local_all_year(
    zone: str, start: str, around: list[datetime]
) -> None:
    follow = rotation(zone, start, "12h", ["day", "night"])
    tz = ZoneInfo(zone)
    window = (around[0] - 36 * H, around[-1] + 36 * H)
    found = handoffs(follow, *window)
    # The hand-worked instants are there, in order, with nothing between them.
    at = [h.at for h in found]
    first = at.index(around[0])
    assert at[first : first + 4] == around
    # Every handoff is at 09:00 (to "day") or 21:00 (to "night") local time.
    for handoff in found:
        local = handoff.at.astimezone(tz).time()
        assert (local, handoff.incoming) in {(time(9), "day"), (time(21), "night")}, handoff
    # One turn absorbs the change: 11 or 13 hours; every other turn is 12.
    lengths = [b - a for a, b in pairwise(at)]
    assert sorted(set(lengths)) in ([11 * H, 12 * H], [12 * H, 13 * H])
    assert len([d for d in lengths if d != 12 * H]) == 1
    # Someone is on call at every instant, never two people.
    assert coverage_gaps(follow, at[0], at[-1]) == []


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_eight_hour_turns_keep_01_09_17_local_through_a_whole_year(zone: str) -> None:
    shifts_of_three = rotation(zone, "2026-01-01T09:00", "8h", ["a", "b", "c"])
    tz = ZoneInfo(zone)
    year = shifts(shifts_of_three, utc(1, 2), datetime(2027, 1, 1, tzinfo=UTC))
    expected = {time(9): "a", time(17): "b", time(1): "c"}
    for shift in year[1:]:
        assert expected[shift.start.astimezone(tz).time()] == shift.person, shift
    # Two turns in the year are not 8 hours long: one of 7, one of 9.
    odd = sorted(s.end - s.start for s in year[1:-1] if s.end - s.start != 8 * H)
    assert odd == [7 * H, 9 * H]


def test_lengths_that_do_not_divide_the_day_follow_the_wall_clock() -> None:
    # 36 hours from Friday 09:00 CET: Saturday 21:00 CET, then Monday 09:00 - which is
    # CEST after the change, 35 elapsed hours later - then Tuesday 21:00 CEST.
    berlin = rotation("Europe/Berlin", "2026-03-27T09:00", "36h", ["a", "b"])
    assert [(h.at, h.incoming) for h in handoffs(berlin, utc(3, 27), utc(4, 1))] == [
        (utc(3, 27, 8), "a"),
        (utc(3, 28, 20), "b"),
        (utc(3, 30, 7), "a"),
        (utc(3, 31, 19), "b"),
    ]
    # 10 hours from 09:00 EST cycles 09:00, 19:00, 05:00, 15:00, 01:00, 11:00 ... local,
    # EDT after the change: 2026-03-08 05:00 EDT is 09:00Z, 9 elapsed hours after 19:00.
    new_york = rotation("America/New_York", "2026-03-07T09:00", "10h", ["a", "b", "c"])
    tz = ZoneInfo("America/New_York")
    found = handoffs(new_york, utc(3, 7), utc(3, 10, 2))
    assert [h.at.astimezone(tz).strftime("%d %H:%M") for h in found] == [
        "07 09:00",
        "07 19:00",
        "08 05:00",
        "08 15:00",
        "09 01:00",
        "09 11:00",
        "09 21:00",
    ]
    assert found[2].at == utc(3, 8, 9)
    assert [h.incoming for h in found] == ["a", "b", "c", "a", "b", "c", "a"]


def test_turns_inside_the_skipped_hour_last_no_time_and_the_order_carries_on() -> None:
    # Half-hour turns from 01:00 EST. 02:00 and 02:30 do not exist on 2026-03-08: both
    # happen at the jump (03:00 EDT, 07:00Z), together with 03:00 itself.
    halves = rotation("America/New_York", "2026-03-08T01:00", "30m", ["a", "b", "c", "d"])
    assert [(h.at, h.incoming) for h in handoffs(halves, utc(3, 8, 6), utc(3, 8, 8))] == [
        (utc(3, 8, 6), "a"),  # 01:00 EST
        (utc(3, 8, 6, 30), "b"),  # 01:30 EST
        (utc(3, 8, 7), "a"),  # 03:00 EDT: c (02:00) and d (02:30) lasted no time
        (utc(3, 8, 7, 30), "b"),  # 03:30 EDT
    ]
    assert on_call(halves, utc(3, 8, 7)) == ["a"]


def test_the_repeated_hour_belongs_to_the_turn_that_started_first() -> None:
    # Hourly turns from 00:00 EDT on 2026-11-01: 01:00 EDT starts b; 02:00 EST comes two
    # hours later (the clocks show 01:00-02:00 twice), and c takes over then.
    hourly = rotation("America/New_York", "2026-11-01T00:00", "1h", ["a", "b", "c"])
    assert [(h.at, h.incoming) for h in handoffs(hourly, utc(11, 1, 4), utc(11, 1, 8))] == [
        (utc(11, 1, 4), "a"),
        (utc(11, 1, 5), "b"),
        (utc(11, 1, 7), "c"),
    ]


def test_half_hour_shift_of_lord_howe() -> None:
    # 12 hours from 02:15: on 2026-10-04 the clocks go from 02:00 to 02:30, so 02:15
    # happens at the jump (02:30 +11:00, 15:30Z), and 14:15 is 03:15Z as usual after.
    howe = rotation("Australia/Lord_Howe", "2026-10-02T02:15", "12h", ["a", "b"])
    assert [h.at for h in handoffs(howe, utc(10, 3, 3), utc(10, 4, 4))] == [
        utc(10, 3, 3, 45),  # 14:15 +10:30 on the 3rd
        utc(10, 3, 15, 30),  # the jump
        utc(10, 4, 3, 15),  # 14:15 +11:00
    ]


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
TICK = timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    minutes=st.integers(1, 72 * 60),
    start=st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2027, 6, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    turns=st.integers(0, 2000),
)
def test_each_turn_starts_when_the_local_clock_first_shows_its_time(
    zone: str, minutes: int, start: datetime, turns: int
) -> None:
    length = timedelta(minutes=minutes)
    layer = rotation(zone, start.isoformat(), f"{minutes}m", ["a", "b"])
    tz = ZoneInfo(zone)
    target = start + turns * length  # the local time turn `turns` starts at
    around = (target - timedelta(days=1)).replace(tzinfo=tz).astimezone(UTC)
    found = [
        at
        for at in turn_starts(layer, "sun", around, around + timedelta(days=2) + length)
        if at.astimezone(tz).replace(tzinfo=None) >= target
    ]
    at = found[0]
    # The clock shows the time (or, when it skips it, a later one) at `at`, and an
    # earlier one just before; the first of two showings when it shows it twice.
    assert at.astimezone(tz).replace(tzinfo=None) >= target
    assert (at - TICK).astimezone(tz).replace(tzinfo=None) < target
    assert at == min(at, target.replace(tzinfo=tz, fold=0).astimezone(UTC))
