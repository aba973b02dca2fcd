"""An on-call schedule as an iCalendar feed (RFC 5545) that calendar apps subscribe to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event

from tocsin.oncall.rules import Shift, to_utc
from tocsin.policy.oncall import Schedule

__all__ = ["PRODID", "schedule_ical", "shift_uid"]

PRODID = "-//Tocsin//On-call//EN"


def shift_uid(schedule: Schedule, shift: Shift) -> str:
    """Stable across feed refreshes, so a calendar app updates an event instead of
    duplicating it; a changed person or start is a different event."""
    start = to_utc(shift.start).strftime("%Y%m%dT%H%M%SZ")
    return f"{schedule.name}-{start}-{shift.person}@tocsin"


def schedule_ical(schedule: Schedule, shifts: Sequence[Shift], *, now: datetime) -> bytes:
    """One VEVENT per shift, times in UTC; ``now`` is the DTSTAMP of every event."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"On call: {schedule.name}")
    if schedule.description:
        calendar.add("x-wr-caldesc", schedule.description)
    stamp = to_utc(now, "now")
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(schedule, shift))
        event.add("summary", f"On call: {shift.person} ({schedule.name})")
        event.add("dtstart", to_utc(shift.start))
        event.add("dtend", to_utc(shift.end))
        event.add("dtstamp", stamp)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
