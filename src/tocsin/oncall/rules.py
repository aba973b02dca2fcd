"""Who is on call: the schedule timeline as a pure function of the policy and time.

A schedule is a stack of layers. Each layer is a rotation (participants take turns of
one rotation length from the layer's ``start``), optionally masked by restrictions
(weekly windows of local time). Later layers win wherever they have someone on call;
overrides win over every layer, and a later override over an earlier one. The result
is one timeline of :class:`Shift` with at most one person at any instant.

Time conventions (the README states them for users):

- Rotation lengths are counted on the schedule's local wall clock, whatever the
  length: turn ``k`` starts when the local clock reads ``start + k * length``. So a
  12-hour rotation from 09:00 hands off at 09:00 and 21:00 local all year, a weekly one
  keeps its weekday and time, a 36-hour one alternates 09:00 / 21:00 and a 10-hour one
  cycles through 09:00, 19:00, 05:00, 15:00, 01:00, 11:00, ... (every five days). The
  turn in which the clocks change is an hour shorter (spring) or longer (autumn).
- Every local time (a handoff, a restriction's edges) happens at the first instant the
  local clock shows that time or a later one. A time the clocks jump over (02:30 on a
  day that goes from 01:59 to 03:00) happens at the jump (03:00); a time shown twice
  (01:30 on a day that goes back from 02:00 to 01:00) happens the first time. A turn
  that lies wholly inside a jump (only turns shorter than the jump can) lasts no time:
  its participant is skipped that day and the order carries on.

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
    "MAX_INSTANT",
    "MIN_INSTANT",
    "OVERRIDE_LAYER",
    "Handoff",
    "Override",
    "Shift",
    "coverage_gaps",
    "handoffs",
    "on_call",
    "shifts",
    "to_utc",
    "turn_starts",
]

#: Instants outside this range are refused by the callers of the schedule math: it adds
#: and subtracts weeks, which must not overflow ``datetime``, and nobody plans on-call
#: for year 1.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)

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


def _offset(local: datetime, zone: ZoneInfo, fold: int) -> timedelta:
    offset = local.replace(tzinfo=zone, fold=fold).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which the wall clock of ``zone`` shows ``local`` or later:
    the first occurrence of a time shown twice, the jump for a time skipped."""
    first, second = _offset(local, zone, 0), _offset(local, zone, 1)
    if first >= second:  # shown once, or twice (``fold=0`` is the first time)
        return (local - first).replace(tzinfo=UTC)
    # Skipped: read with the offset after the jump it is an instant before the jump,
    # with the one before it an instant after. Zone transitions fall on whole seconds:
    # bisect over seconds for the jump.
    before = int((local - second).replace(tzinfo=UTC).timestamp())
    after = int((local - first).replace(tzinfo=UTC).timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == first:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


class _Turns:
    """The handoff instants of one layer: ``boundary(k)`` starts turn ``k``, when the
    local wall clock reads ``start + k * length`` (see the module's conventions)."""

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self.layer = layer
        self.zone = zone
        self.first = _instant(layer.start, zone)
        if layer.rotation == "daily":
            self.step = _DAY
        elif layer.rotation == "weekly":
            self.step = 7 * _DAY
        elif layer.length is None:
            raise ValueError(f"layer {layer.name!r}: a custom rotation needs a length")
        else:
            self.step = layer.length

    def boundary(self, k: int) -> datetime:
        return _instant(self.layer.start + k * self.step, self.zone)

    def index_at(self, instant: datetime) -> int:
        """The turn running at ``instant`` (0 before the first handoff)."""
        local = instant.astimezone(self.zone).replace(tzinfo=None)
        k = max((local - self.layer.start) // self.step, 0)
        # The wall clock is off from elapsed time by the zone's DST shift: walk the
        # few turns that takes.
        while k > 0 and self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """The distinct handoff instants in [start, end)."""
        k = self.index_at(start)
        found: list[datetime] = []
        at = self.boundary(k)
        while at < end:
            if at >= start and (not found or found[-1] != at):
                found.append(at)
            k += 1
            at = self.boundary(k)
        return found


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


def turn_starts(schedule: Schedule, layer: str, start: datetime, end: datetime) -> list[datetime]:
    """The distinct instants in [start, end) at which a turn of the layer named ``layer``
    starts (whoever's turn it is, even the same person again)."""
    start, end = to_utc(start, "start"), to_utc(end, "end")
    found = next((item for item in schedule.layers if item.name == layer), None)
    if found is None:
        raise ValueError(f"schedule {schedule.name!r} has no layer {layer!r}")
    return _Turns(found, _zone(schedule)).boundaries(start, end)


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
