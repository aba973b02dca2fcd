"""The iCalendar feed parses back with the icalendar library and has one event per shift."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from tocsin.oncall import schedule_ical, shifts
from tocsin.policy import example_policy_text, parse_policy

NOW = datetime(2026, 1, 10, 12, 30, tzinfo=UTC)


def test_feed_round_trips() -> None:
    policy = parse_policy(example_policy_text())
    primary = policy.schedule("platform-primary")
    assert primary is not None
    timeline = shifts(primary, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 26, tzinfo=UTC))
    feed = schedule_ical(primary, timeline, now=NOW)
    assert isinstance(feed, bytes)

    calendar = Calendar.from_ical(feed)
    assert str(calendar["PRODID"]) == "-//Tocsin//On-call//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == "On call: platform-primary"
    events = list(calendar.walk("VEVENT"))
    assert [
        (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"), e.decoded("DTSTAMP"))
        for e in events
    ] == [
        (
            "On call: alice (platform-primary)",
            datetime(2026, 1, 5, 9, tzinfo=UTC),
            datetime(2026, 1, 12, 9, tzinfo=UTC),
            NOW,
        ),
        (
            "On call: bob (platform-primary)",
            datetime(2026, 1, 12, 9, tzinfo=UTC),
            datetime(2026, 1, 19, 9, tzinfo=UTC),
            NOW,
        ),
        (
            "On call: charlie (platform-primary)",
            datetime(2026, 1, 19, 9, tzinfo=UTC),
            datetime(2026, 1, 26, tzinfo=UTC),
            NOW,
        ),
    ]
    assert b"DTSTART:20260105T090000Z" in feed  # UTC, no TZID to resolve

    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == 3
    assert uids[0] == "platform-primary-20260105T090000Z-alice@tocsin"
    # Stable: the same shift gets the same UID in a later refresh of the feed.
    later = schedule_ical(primary, timeline[1:], now=datetime(2026, 1, 20, tzinfo=UTC))
    again = [str(e["UID"]) for e in Calendar.from_ical(later).walk("VEVENT")]
    assert again == uids[1:]


def test_empty_feed_is_still_a_calendar() -> None:
    policy = parse_policy(example_policy_text())
    ic = policy.schedule("ic-rotation")
    assert ic is not None
    calendar = Calendar.from_ical(schedule_ical(ic, [], now=NOW))
    assert list(calendar.walk("VEVENT")) == []
    assert str(calendar["X-WR-CALDESC"]) == "Incident commanders"
