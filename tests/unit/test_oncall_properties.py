"""Property tests: whatever the zone, rotation and start, a layer without restrictions
has exactly one person on call at every instant after it starts, and an override wins
during its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.oncall import Override, coverage_gaps, on_call, shifts
from tocsin.policy.oncall import WEEKDAYS, Schedule

# Zones with the usual one-hour DST, none, a half-hour DST (Lord Howe) and odd offsets.
ZONES = [
    "UTC",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
]
PEOPLE = ["ann", "ben", "cat", "dan"]
TICK = timedelta(microseconds=1)

rotations = st.one_of(
    st.sampled_from([("daily", None), ("weekly", None)]),
    st.integers(1, 240).map(lambda h: ("custom", f"{h}h")),
    st.integers(1, 14).map(lambda d: ("custom", f"{d}d")),
    st.integers(1, 600).map(lambda m: ("custom", f"{m}m")),
)
local_starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
times = st.integers(0, 23 * 60 + 59).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
restrictions = st.fixed_dictionaries(
    {
        "days": st.lists(st.sampled_from(WEEKDAYS), min_size=1, unique=True),
        "from": times,
        "to": times,
    }
)


@st.composite
def layers(draw: st.DrawFn, *, restricted: bool) -> dict[str, Any]:
    rotation, length = draw(rotations)
    layer: dict[str, Any] = {
        "name": f"l{draw(st.integers(0, 999))}",
        "rotation": rotation,
        "start": draw(local_starts).isoformat(),
        "participants": draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=5)),
    }
    if length is not None:
        layer["length"] = length
    if restricted:
        layer["restrictions"] = draw(st.lists(restrictions, max_size=3))
    return layer


def _first_instant(schedule: Schedule) -> datetime:
    zone = ZoneInfo(schedule.timezone or "UTC")
    return min(
        layer.start.replace(tzinfo=zone, fold=0).astimezone(UTC) for layer in schedule.layers
    )


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    layer=layers(restricted=False),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=500)),
    span=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=20)),
)
def test_unrestricted_layer_has_exactly_one_person_at_every_instant(
    zone: str, layer: dict[str, Any], offset: timedelta, span: timedelta
) -> None:
    schedule = Schedule.model_validate({"name": "s", "timezone": zone, "layers": [layer]})
    at = _first_instant(schedule) + offset
    people = on_call(schedule, at)
    assert len(people) == 1 and people[0] in layer["participants"]
    # Over a whole window: no gaps, and the shifts tile it without overlapping.
    timeline = shifts(schedule, at, at + span)
    assert coverage_gaps(schedule, at, at + span) == []
    assert timeline[0].start == at and timeline[-1].end == at + span
    for before, after in pairwise(timeline):
        assert before.end == after.start and before.person != after.person


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    stack=st.lists(layers(restricted=True), min_size=1, max_size=3),
    windows=st.lists(
        st.tuples(
            st.sampled_from(["olga", "pete"]),
            st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=300)),
            st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
        ),
        min_size=1,
        max_size=4,
    ),
    pick=st.integers(0, 3),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_an_override_wins_during_its_window(
    zone: str,
    stack: list[dict[str, Any]],
    windows: list[tuple[str, timedelta, timedelta]],
    pick: int,
    fraction: float,
) -> None:
    for index, layer in enumerate(stack):
        layer["name"] = f"layer-{index}"
    schedule = Schedule.model_validate({"name": "s", "timezone": zone, "layers": stack})
    base = _first_instant(schedule)
    overrides = [
        Override(person, base + start, base + start + length) for person, start, length in windows
    ]
    chosen = overrides[pick % len(overrides)]
    at = min(chosen.start + (chosen.end - chosen.start) * fraction, chosen.end - TICK)
    # The last override covering the instant wins (later overrides beat earlier ones).
    expected = [o.person for o in overrides if o.start <= at < o.end][-1]
    assert on_call(schedule, at, overrides) == [expected]
    assert coverage_gaps(schedule, chosen.start, chosen.end, overrides) == []
