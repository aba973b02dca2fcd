"""The iCalendar feed, parsed back with the icalendar library as a calendar app would.

A calendar app refreshes a subscribed feed and matches events by UID, so an event must
be the same in every fetch: from its real handoff to its real handoff, never cut at the
moment of the fetch. The 2026 DST changes used are listed in ``test_oncall_dst.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tocsin.clock import FakeClock
from tocsin.oncall import Override, calendar_events, handoffs, schedule_ical, shifts
from tocsin.oncall.ical import FEED_HORIZON, feed_window
from tocsin.policy import example_policy_text, parse_policy
from tocsin.policy.oncall import Schedule

H = timedelta(hours=1)
EXAMPLE = parse_policy(example_policy_text())


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def example(name: str) -> Schedule:
    found = EXAMPLE.schedule(name)
    assert found is not None
    return found


def fetch(schedule: Schedule, now: datetime, overrides: list[Override] | None = None) -> Any:
    """The feed at ``now``, as a calendar app parses it."""
    events = feed_window(schedule, now, lambda _s, _e: overrides or [])
    return Calendar.from_ical(schedule_ical(schedule, events))


def rows(calendar: Any) -> list[tuple[str, datetime, datetime]]:
    return [
        (str(e["SUMMARY"]).split()[2], e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in calendar.walk("VEVENT")
    ]


def test_feed_round_trips() -> None:
    primary = example("platform-primary")
    timeline = shifts(primary, utc(1, 5), utc(1, 26, 9))
    feed = schedule_ical(primary, calendar_events(primary, timeline))
    assert isinstance(feed, bytes)
    assert feed.endswith(b"END:VCALENDAR\r\n") and b"\n" not in feed.replace(b"\r\n", b"")

    calendar = Calendar.from_ical(feed)
    assert str(calendar["PRODID"]) == "-//Tocsin//On-call//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == "On call: platform-primary"
    assert calendar.decoded("REFRESH-INTERVAL") == H
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nX-PUBLISHED-TTL:PT1H\r\n" in feed
    assert "METHOD" not in calendar  # a published feed, not a scheduling message
    events = list(calendar.walk("VEVENT"))
    assert rows(calendar) == [
        ("alice", utc(1, 5, 9), utc(1, 12, 9)),
        ("bob", utc(1, 12, 9), utc(1, 19, 9)),
        ("charlie", utc(1, 19, 9), utc(1, 26, 9)),
    ]
    assert b"DTSTART:20260105T090000Z" in feed  # UTC, no TZID to resolve
    assert [e.decoded("DTSTAMP") for e in events] == [e.decoded("DTSTART") for e in events]
    uid = "platform-primary-20260105T090000Z-20260112T090000Z-alice@tocsin"
    assert str(events[0]["UID"]) == uid


def test_the_last_event_ends_at_its_handoff_and_is_the_same_in_every_fetch() -> None:
    primary = example("platform-primary")
    clock = FakeClock(utc(3, 2, 12, 30))  # Monday, charlie's week
    seen: dict[str, bytes] = {}
    for _ in range(24 * 9):  # hourly refreshes for nine days
        now = clock.now()
        calendar = fetch(primary, now)
        found = rows(calendar)
        last = found[-1]
        assert last[1] < now + FEED_HORIZON <= last[2]
        assert last[2].weekday() == 0 and last[2].time() == time(9)  # a Monday 09:00 handoff
        assert found[0][1] <= now - timedelta(weeks=1) or found[0][1] == utc(1, 5, 9)
        for event in calendar.walk("VEVENT"):
            uid, body = str(event["UID"]), event.to_ical()
            assert seen.setdefault(uid, body) == body, uid
        clock.advance(H)
    # Nine days of refreshes saw 11 weekly events come and go, each under one UID.
    assert len(seen) == 11


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("Europe/Berlin", utc(3, 20)),
        ("Europe/Berlin", utc(10, 16)),
        ("America/New_York", utc(3, 1)),
        ("America/New_York", utc(10, 25)),
        ("Australia/Sydney", utc(3, 29)),
        ("Australia/Sydney", utc(9, 27)),
    ],
)
def test_twelve_hour_feed_across_a_dst_change(zone: str, first: datetime) -> None:
    follow = Schedule.model_validate(
        {
            "name": "follow-the-sun",
            "timezone": zone,
            "layers": [
                {
                    "name": "halves",
                    "rotation": "custom",
                    "length": "12h",
                    "start": "2026-01-01T09:00",
                    "participants": ["day", "night"],
                }
            ],
        }
    )
    tz = ZoneInfo(zone)
    clock = FakeClock(first)
    seen: dict[str, bytes] = {}
    spans: set[timedelta] = set()
    while clock.now() < first + timedelta(days=14):  # the change is inside this fortnight
        now = clock.now()
        calendar = fetch(follow, now)
        window = (now - timedelta(weeks=2), now + 2 * FEED_HORIZON)
        changes = {h.at for h in handoffs(follow, *window)}
        for event in calendar.walk("VEVENT"):
            start, end = event.decoded("DTSTART"), event.decoded("DTEND")
            assert start in changes and end in changes
            person = str(event["SUMMARY"]).split()[2]
            assert (start.astimezone(tz).time(), person) in {(time(9), "day"), (time(21), "night")}
            assert end.astimezone(tz).time() in {time(9), time(21)}
            spans.add(end - start)
            uid, body = str(event["UID"]), event.to_ical()
            assert seen.setdefault(uid, body) == body, uid
        clock.advance(timedelta(hours=31, minutes=17))
    # One turn absorbed the change; the feed shows it as it is.
    assert spans in ({12 * H, 11 * H}, {12 * H, 13 * H})


def test_one_person_rotation_has_one_event_per_turn() -> None:
    solo = Schedule.model_validate(
        {
            "name": "solo",
            "timezone": "Europe/Berlin",
            "layers": [
                {
                    "name": "weekly",
                    "rotation": "weekly",
                    "start": "2026-01-05T09:00",
                    "participants": ["sam"],
                }
            ],
        }
    )
    found = rows(fetch(solo, utc(3, 25, 12)))
    # Monday 09:00 Berlin: CET (08:00Z) before 03-29, CEST (07:00Z) after.
    assert found[:3] == [
        ("sam", utc(3, 16, 8), utc(3, 23, 8)),
        ("sam", utc(3, 23, 8), utc(3, 30, 7)),
        ("sam", utc(3, 30, 7), utc(4, 6, 7)),
    ]
    assert found[-1][2] == utc(5, 25, 7)


def test_ic_rotation_events_are_not_cut_where_nobody_changes() -> None:
    ic = example("ic-rotation")
    found = rows(fetch(ic, utc(3, 7, 12)))  # Saturday
    # Charlie's weekend runs from Friday 17:00 PST to Monday 09:00 PDT in one event,
    # although his weekly turn restarts at Monday 00:00.
    assert ("charlie", utc(3, 7, 1), utc(3, 9, 16)) in found
    assert ("alice", utc(3, 9, 16), utc(3, 10, 0)) in found


def test_an_override_past_the_window_ends_where_the_override_ends() -> None:
    primary = example("platform-primary")
    now = utc(3, 2, 12)
    long_cover = Override("dana", utc(4, 20), utc(7, 1))
    found = rows(fetch(primary, now, [long_cover]))
    assert found[-1] == ("dana", utc(4, 20), utc(7, 1))
    assert found[-2] == ("charlie", utc(4, 13, 9), utc(4, 20))
