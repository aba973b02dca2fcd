"""Who is on call: the schedule timeline as a pure function of the policy and time.

A schedule is a stack of layers. Each layer is a rotation (participants take turns of
one rotation length from the layer's ``start``), optionally masked by restrictions
(weekly windows of local time). Later layers win wherever they have someone on call;
overrides win over every layer, and a later override over an earlier one. The result
is one timeline of :class:`Shift` with at most one person at any instant.

Rotations are computed in the schedule's local wall-clock time, so "Monday 09:00
America/Los_Angeles" stays 09:00 local across daylight-saving changes. Turns of whole
days (daily, weekly, custom ``2d``...) advance by calendar days; other custom lengths
(``12h``, ``36h``...) by elapsed time from the first handoff. A local time that does
not exist (the spring-forward gap) moves forward by the length of the gap (02:30 on the
US change day is 03:30 PDT, as with ``zoneinfo``'s ``fold=0``); an ambiguous one (the
fall-back hour) is its first occurrence.

The work is proportional to the number of turns and restriction windows in the range,
never to its length in minutes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from tocsin.policy.oncall import WEEKDAYS, Layer, Restriction, Schedule, StaticOverride

__all__ = [
    "OVERRIDE_LAYER",
    "Handoff",
    "Override",
    "Shift",
    "coverage_gaps",
    "handoffs",
    "on_call",
    "shifts",
    "to_utc",
]

#: The ``layer`` of a :class:`Shift` that comes from an override.
OVERRIDE_LAYER = "override"

_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shift:
    """``person`` is on call during [start, end) (aware UTC datetimes), because of
    ``layer`` (a layer name, or :data:`OVERRIDE_LAYER`)."""

    person: str
    start: datetime
    end: datetime
    layer: str


@dataclass(frozen=True)
class Override:
    """``person`` covers the schedule during [start, end), whatever the layers say."""

    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Handoff:
    """The on-call person changes at ``at``; ``None`` on either side is nobody (a gap)."""

    at: datetime
    outgoing: str | None
    incoming: str | None


def to_utc(value: datetime, what: str = "time") -> datetime:
    """``value`` in UTC; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _zone(schedule: Schedule) -> ZoneInfo:
    return ZoneInfo(schedule.timezone or "UTC")


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall-clock time -> UTC instant (gap: forward; ambiguous: first)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


class _Turns:
    """The handoff instants of one layer: ``boundary(k)`` starts turn ``k``."""

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self.layer = layer
        self.zone = zone
        self.first = _instant(layer.start, zone)
        self.days = 0
        self.step = _DAY
        if layer.rotation == "daily":
            self.days = 1
        elif layer.rotation == "weekly":
            self.days = 7
        elif layer.length is None:
            raise ValueError(f"layer {layer.name!r}: a custom rotation needs a length")
        elif layer.length % _DAY == timedelta(0):
            self.days = layer.length // _DAY
        else:
            self.step = layer.length

    def boundary(self, k: int) -> datetime:
        if self.days:
            return _instant(self.layer.start + timedelta(days=k * self.days), self.zone)
        return self.first + k * self.step

    def index_at(self, instant: datetime) -> int:
        """The turn running at ``instant`` (0 before the first handoff)."""
        if not self.days:
            return max((instant - self.first) // self.step, 0)
        local = instant.astimezone(self.zone).replace(tzinfo=None)
        k = max((local - self.layer.start) // timedelta(days=self.days), 0)
        # Converting through local time can be an hour off around a DST change.
        while k > 0 and self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k


_Segment = tuple[datetime, datetime, str]


def _union(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _windows(
    restrictions: Sequence[Restriction], zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The restriction windows overlapping [start, end), as sorted disjoint instants."""
    found: list[tuple[datetime, datetime]] = []
    # From the day before: a window that started yesterday may run past midnight.
    day = start.astimezone(zone).date() - _DAY
    last = end.astimezone(zone).date()
    while day <= last:
        name = WEEKDAYS[day.weekday()]
        for restriction in restrictions:
            if name not in restriction.days:
                continue
            to_day = day if restriction.to > restriction.from_ else day + _DAY
            lo = max(_instant(datetime.combine(day, restriction.from_), zone), start)
            hi = min(_instant(datetime.combine(to_day, restriction.to), zone), end)
            if lo < hi:
                found.append((lo, hi))
        day += _DAY
    return _union(found)


def _restrict(segments: list[_Segment], windows: list[tuple[datetime, datetime]]) -> list[_Segment]:
    """The parts of ``segments`` inside ``windows`` (both sorted and disjoint)."""
    out: list[_Segment] = []
    i = j = 0
    while i < len(segments) and j < len(windows):
        (s_start, s_end, person), (w_start, w_end) = segments[i], windows[j]
        lo, hi = max(s_start, w_start), min(s_end, w_end)
        if lo < hi:
            out.append((lo, hi, person))
        if s_end <= w_end:
            i += 1
        else:
            j += 1
    return out


def _layer_segments(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[_Segment]:
    turns = _Turns(layer, zone)
    lo = max(start, turns.first)
    if lo >= end:
        return []
    k = turns.index_at(lo)
    segments: list[_Segment] = []
    turn_start = turns.boundary(k)
    while turn_start < end:
        turn_end = turns.boundary(k + 1)
        a, b = max(turn_start, lo), min(turn_end, end)
        if a < b:
            segments.append((a, b, layer.participants[k % len(layer.participants)]))
        k += 1
        turn_start = turn_end
    if layer.restrictions:
        segments = _restrict(segments, _windows(layer.restrictions, zone, start, end))
    return segments


def _flatten(paints: list[list[tuple[datetime, datetime, str, str]]]) -> list[Shift]:
    """Overlay sorted, disjoint segment lists; a later list wins where it has someone."""
    cuts = sorted({t for paint in paints for seg in paint for t in seg[:2]})
    starts = [[seg[0] for seg in paint] for paint in paints]
    result: list[Shift] = []
    for lo, hi in pairwise(cuts):
        for paint, paint_starts in zip(reversed(paints), reversed(starts), strict=True):
            i = bisect_right(paint_starts, lo) - 1
            if i >= 0 and paint[i][1] > lo:
                person, layer = paint[i][2], paint[i][3]
                last = result[-1] if result else None
                if last and last.end == lo and (last.person, last.layer) == (person, layer):
                    result[-1] = Shift(person, last.start, hi, layer)
                else:
                    result.append(Shift(person, lo, hi, layer))
                break
    return result


def shifts(
    schedule: Schedule, start: datetime, end: datetime, overrides: Iterable[Override] = ()
) -> list[Shift]:
    """The on-call timeline of ``schedule`` within [start, end), clipped to it.

    ``overrides`` (run-time ones, e.g. from the database) are applied after the
    schedule's static overrides, and each wins over the ones before it where they
    overlap. Adjacent pieces of the same person and layer are merged.
    """
    start, end = to_utc(start, "start"), to_utc(end, "end")
    if end <= start:
        return []
    zone = _zone(schedule)
    paints = [
        [(a, b, person, layer.name) for a, b, person in _layer_segments(layer, zone, start, end)]
        for layer in schedule.layers
    ]
    static: tuple[StaticOverride | Override, ...] = schedule.overrides
    for override in (*static, *overrides):
        lo = max(to_utc(override.start, "override start"), start)
        hi = min(to_utc(override.end, "override end"), end)
        if lo < hi:
            paints.append([(lo, hi, override.person, OVERRIDE_LAYER)])
    return _flatten(paints)


def on_call(schedule: Schedule, at: datetime, overrides: Iterable[Override] = ()) -> list[str]:
    """The people on call at instant ``at``: one, or none in a gap. A list so that
    callers treat "nobody" and "someone" the same way."""
    at = to_utc(at, "at")
    return [shift.person for shift in shifts(schedule, at, at + _TICK, overrides)]


def handoffs(
    schedule: Schedule, start: datetime, end: datetime, overrides: Iterable[Override] = ()
) -> list[Handoff]:
    """Every change of the on-call person at an instant in [start, end), including
    changes to and from nobody (the edges of a gap)."""
    start, end = to_utc(start, "start"), to_utc(end, "end")
    # Start just before ``start`` so that a change exactly at ``start`` is seen.
    timeline = shifts(schedule, start - _TICK, end, overrides)
    found: list[Handoff] = []
    person: str | None = None
    until = start - _TICK
    for shift in timeline:
        if shift.start > until:  # a gap before this shift
            if person is not None and until >= start:
                found.append(Handoff(until, person, None))
            person = None
        if shift.person != person and shift.start >= start:
            found.append(Handoff(shift.start, person, shift.person))
        person, until = shift.person, shift.end
    if person is not None and start <= until < end:
        found.append(Handoff(until, person, None))
    return found


def coverage_gaps(
    schedule: Schedule, start: datetime, end: datetime, overrides: Iterable[Override] = ()
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) when nobody is on call, in order."""
    start, end = to_utc(start, "start"), to_utc(end, "end")
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for shift in shifts(schedule, start, end, overrides):
        if shift.start > cursor:
            gaps.append((cursor, shift.start))
        cursor = max(cursor, shift.end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
