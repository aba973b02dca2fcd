"""An on-call schedule as an iCalendar feed (RFC 5545) that calendar apps subscribe to.

Calendar apps refresh a subscribed feed now and then and match its events by UID, so
every event here is a pure function of the schedule, never of the moment it is fetched:

- An event is one stretch of one person on call, from the handoff that starts it to the
  handoff that ends it, even when that is beyond the feed's window. Someone who holds
  two whole turns of a layer in a row (a one-person rotation, ``[alice, alice, bob]``)
  gets one event per turn, so that every event has a real end.
- Its UID is made of the schedule, its start, its end and the person: an event never
  changes under a UID. An override that moves a handoff makes new events (new UIDs);
  the old ones leave the feed, and calendar apps remove them.
- Its DTSTAMP is its start, so the same event is byte-for-byte the same in every fetch.
- Times are UTC (``...Z``): nothing for a calendar app to resolve against its own zone
  data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event, vDuration

from tocsin.oncall.rules import (
    MAX_INSTANT,
    MIN_INSTANT,
    OVERRIDE_LAYER,
    Override,
    Shift,
    shifts,
    to_utc,
    turn_starts,
)
from tocsin.policy.oncall import Schedule

__all__ = [
    "FEED_HISTORY",
    "FEED_HORIZON",
    "PRODID",
    "REFRESH",
    "calendar_events",
    "feed_window",
    "schedule_ical",
    "shift_uid",
]

PRODID = "-//Tocsin//On-call//EN"
#: The feed holds the events overlapping this much time before and after the fetch.
FEED_HISTORY = timedelta(weeks=1)
FEED_HORIZON = timedelta(weeks=8)
#: How often calendar apps are asked to fetch the feed again.
REFRESH = timedelta(hours=1)

_TICK = timedelta(microseconds=1)


def _stamp(value: datetime) -> str:
    return to_utc(value).strftime("%Y%m%dT%H%M%SZ")


def shift_uid(schedule: Schedule, shift: Shift) -> str:
    """The same for the same stretch in every fetch; any change makes a new one."""
    return f"{schedule.name}-{_stamp(shift.start)}-{_stamp(shift.end)}-{shift.person}@tocsin"


def _split(schedule: Schedule, shift: Shift) -> Iterator[Shift]:
    """``shift`` cut at each turn start of its layer that has a whole turn of the same
    person on either side of it."""
    if shift.layer == OVERRIDE_LAYER:
        yield shift
        return
    starts = turn_starts(schedule, shift.layer, shift.start, shift.end + _TICK)
    begin = shift.start
    for index, at in enumerate(starts):
        inside = shift.start < at < shift.end
        if inside and index > 0 and index + 1 < len(starts):
            yield Shift(shift.person, begin, at, shift.layer)
            begin = at
    yield Shift(shift.person, begin, shift.end, shift.layer)


def calendar_events(schedule: Schedule, timeline: Sequence[Shift]) -> list[Shift]:
    """The events of ``timeline`` (from :func:`~tocsin.oncall.rules.shifts`) as the feed
    shows them: each shift, cut where a person holds whole turns in a row."""
    return [event for shift in timeline for event in _split(schedule, shift)]


def feed_window(
    schedule: Schedule,
    now: datetime,
    overrides: Callable[[datetime, datetime], Sequence[Override]] = lambda _s, _e: (),
) -> list[Shift]:
    """The events overlapping [now - FEED_HISTORY, now + FEED_HORIZON), each whole.

    ``overrides(start, end)`` gives the run-time overrides overlapping a range. The
    timeline is computed over the window plus a margin; while an event chosen runs into
    the edge of that range, the margin grows (an event spans at most two turns of its
    layer, or its override's stretch, so this ends).
    """
    now = to_utc(now, "now")
    low, high = now - FEED_HISTORY, now + FEED_HORIZON
    margin = timedelta(weeks=2)
    while True:
        start = low - min(margin, max(low - MIN_INSTANT, timedelta(0)))
        end = high + min(margin, max(MAX_INSTANT - high, timedelta(0)))
        timeline = shifts(schedule, start, end, overrides(start, end))
        events = [e for e in calendar_events(schedule, timeline) if e.end > low and e.start < high]
        cut = any((e.start == start > MIN_INSTANT) or (e.end == end < MAX_INSTANT) for e in events)
        if not cut:
            return events
        margin *= 4


def schedule_ical(schedule: Schedule, events: Sequence[Shift]) -> bytes:
    """One VEVENT per event (see :func:`calendar_events`), times in UTC."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", f"On call: {schedule.name}")
    calendar.add("x-wr-calname", f"On call: {schedule.name}")
    if schedule.description:
        calendar.add("description", schedule.description)
        calendar.add("x-wr-caldesc", schedule.description)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    for shift in events:
        event = Event()
        event.add("uid", shift_uid(schedule, shift))
        event.add("dtstamp", to_utc(shift.start))
        event.add("dtstart", to_utc(shift.start))
        event.add("dtend", to_utc(shift.end))
        event.add("summary", f"On call: {shift.person} ({schedule.name})")
        how = "an override" if shift.layer == OVERRIDE_LAYER else f"layer {shift.layer}"
        event.add("description", f"{shift.person} is on call for {schedule.name} ({how}).")
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
