"""A realistic on-call organisation for the importer tests, product-neutral.

36 people in 6 teams, 11 schedules in 5 time zones (Europe/Berlin and America/New_York
change their clocks twice a year, Africa/Casablanca before and after Ramadan), rotations
daily, weekly, every 2 days and every 12 hours, restrictions by time of day and by
weekday, overrides (some across a clock change), 6 escalation policies with repeats,
8 services with integrations, 2 maintenance windows. The fixture servers in
``opsgenie_rest.py``, ``pagerduty_rest.py`` and ``grafana_oncall_rest.py`` serve it in
their product's wire format.

What each product shows as on call comes from explicit shift lists: for every rotation,
the list of (start, end, person) turns within the test's weeks, written out here by
walking the rotation's handoffs on the local wall clock (daily and weekly handoffs keep
their local time across a clock change) and cutting them to the restriction windows.
This walk is the fixture's own and shares nothing with Tocsin's schedule code, so the
equivalence check compares two independent answers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime, str]

_FIRST = re.findall(
    r"\S+",
    "Ada Bram Cleo Dario Elin Farid Greta Hiro Ines Jonas Kaori Lena Mateo Nia Oskar "
    "Priya Quinn Rosa Sami Tomas Uma Viktor Wen Xenia Yusuf Zoe Anouk Bilal Carmen "
    "Dev Emil Freya Gus Hana Ivo Jule",
)
_LAST = re.findall(
    r"\S+",
    "Adler Berg Costa Dahl Egger Fischer Gomez Hayashi Iversen Jansen Kato Lindqvist "
    "Moreau Nakamura Okafor Patel Quist Rossi Sato Tanaka Ueda Vogel Weber Xu Yilmaz "
    "Ziegler Arnaud Bauer Chen Dubois Eriksen Fontaine Graf Horvat Ito Jovanovic",
)
_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
_TEAMS = (
    ("platform", "Europe/Berlin"),
    ("payments", "America/New_York"),
    ("data", "Asia/Tokyo"),
    ("sre", "UTC"),
    ("mobile", "America/New_York"),
    ("support", "Europe/Berlin"),
)
_DAY = 1440
_WEEK = 7 * _DAY


@dataclass(frozen=True)
class User:
    id: str
    full_name: str
    email: str
    phone: str  # national number; the country code is 1
    tz: str
    push: bool  # has a push (mobile app) contact method too


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    tz: str
    members: tuple[str, ...]


@dataclass
class Rotation:
    id: str
    name: str
    unit: str  # hourly | daily | weekly
    length: int
    start: datetime  # local wall clock, naive
    participants: list[str]
    #: Weekly windows (minute of the week from Monday 00:00 local, length in minutes).
    windows: list[tuple[int, int]] = field(default_factory=list)
    #: The windows are one daily time-of-day window (written as such by the products).
    daily: bool = False
    shifts: list[Interval] = field(default_factory=list)


@dataclass
class Schedule:
    id: str
    name: str
    tz: str
    team: str
    rotations: list[Rotation]
    overrides: list[Interval] = field(default_factory=list)


@dataclass(frozen=True)
class Escalation:
    id: str
    name: str
    team: str
    #: (minutes before the next tier, [(kind "user"|"schedule", id)])
    tiers: tuple[tuple[int, tuple[tuple[str, str], ...]], ...]
    repeats: int


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    team: str
    escalation: str
    integrations: tuple[tuple[str, str], ...]  # (id, kind: prometheus | events | email)


@dataclass(frozen=True)
class Maintenance:
    id: str
    description: str
    start: datetime
    end: datetime
    services: tuple[str, ...]


@dataclass
class Org:
    anchor: datetime
    end: datetime
    users: list[User]
    teams: list[Team]
    schedules: list[Schedule]
    escalations: list[Escalation]
    services: list[Service]
    maintenance: list[Maintenance]
    _users: dict[str, User] = field(default_factory=dict)

    def user(self, uid: str) -> User:
        if len(self._users) != len(self.users):
            self._users = {u.id: u for u in self.users}
        return self._users[uid]

    def team(self, tid: str) -> Team:
        return next(t for t in self.teams if t.id == tid)


# --- the explicit shift lists --------------------------------------------------------


def _utc(local: datetime, tz: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _turns(rotation: Rotation, tz: str, start: datetime, end: datetime) -> list[Interval]:
    step = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(7)}
    turn = step[rotation.unit] * rotation.length
    found: list[Interval] = []
    index = 0
    while True:
        a_local = rotation.start + index * turn
        a, b = _utc(a_local, tz), _utc(a_local + turn, tz)
        if a >= end:
            return found
        if b > start:
            person = rotation.participants[index % len(rotation.participants)]
            found.append((a, b, person))
        index += 1


def _windows(rotation: Rotation, tz: str, start: datetime, end: datetime) -> list[Interval]:
    local = start.astimezone(ZoneInfo(tz)).replace(tzinfo=None) - timedelta(days=8)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0)
    found: list[Interval] = []
    while _utc(monday, tz) < end:
        for begin, length in rotation.windows:
            a_local = monday + timedelta(minutes=begin)
            found.append((_utc(a_local, tz), _utc(a_local + timedelta(minutes=length), tz), ""))
        monday += timedelta(days=7)
    return found


def _cut(turns: list[Interval], windows: list[Interval]) -> list[Interval]:
    found: list[Interval] = []
    for a, b, person in turns:
        for c, d, _ in windows:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                found.append((lo, hi, person))
    found.sort()
    merged: list[Interval] = []
    for a, b, person in found:
        if merged and merged[-1][2] == person and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]), person)
        else:
            merged.append((a, b, person))
    return merged


def write_shifts(schedule: Schedule, start: datetime, end: datetime) -> None:
    for rotation in schedule.rotations:
        turns = _turns(rotation, schedule.tz, start, end)
        if rotation.windows:
            turns = _cut(turns, _windows(rotation, schedule.tz, start, end))
        rotation.shifts = [(max(a, start), min(b, end), p) for a, b, p in turns]


def on_call(schedule: Schedule, at: datetime) -> set[str]:
    """Who the shift lists say is on call at ``at``: the override's person if one covers
    it, else everyone whose rotation turn covers it (the rotations are built not to
    overlap, so that is one person or nobody)."""
    for a, b, person in schedule.overrides:
        if a <= at < b:
            return {person}
    return {p for r in schedule.rotations for a, b, p in r.shifts if a <= at < b}


# --- the organisation ----------------------------------------------------------------


def _weekday_windows(days: range, begin: int, length: int) -> list[tuple[int, int]]:
    return [(day * _DAY + begin, length) for day in days]


def _monday_before(day: datetime) -> datetime:
    return (day - timedelta(days=day.weekday())).replace(hour=0, minute=0, tzinfo=None)


def build_org(anchor: datetime, weeks: int = 8, responders: int = 0) -> Org:
    """The organisation as it stands at ``anchor`` (UTC), with shift lists for the
    ``weeks`` after it; ``responders`` more people in no team (a large company)."""
    rng = random.Random(anchor.toordinal())
    users = [
        User(
            id=f"U{i:03d}",
            full_name=f"{_FIRST[i]} {_LAST[i]}",
            email=f"{_FIRST[i].lower()}.{_LAST[i].lower()}@example.com",
            phone=f"55555501{i:02d}",
            tz=_ZONES[i % len(_ZONES)],
            push=i % 5 == 0,
        )
        for i in range(36)
    ]
    users += [
        User(f"X{i:04d}", f"Responder {i}", f"responder{i}@example.com", f"5555{i:06d}",
             _ZONES[i % len(_ZONES)], push=False)
        for i in range(responders)
    ]  # fmt: skip
    teams = [
        Team(f"T{t}", name, tz, tuple(u.id for u in users[t * 6 : t * 6 + 6]))
        for t, (name, tz) in enumerate(_TEAMS)
    ]
    base = _monday_before(anchor - timedelta(days=35))

    def members(team: int, *picks: int) -> list[str]:
        return [teams[team].members[p] for p in picks]

    def rot(
        rid: str,
        name: str,
        unit: str,
        length: int,
        start: datetime,
        people: list[str],
        windows: list[tuple[int, int]] | None = None,
        daily: bool = False,
    ) -> Rotation:
        return Rotation(rid, name, unit, length, start, people, windows or [], daily)

    at = timedelta
    schedules = [
        Schedule(
            "S01",
            "Platform primary",
            "Europe/Berlin",
            "T0",
            [
                rot("R01", "weekly", "weekly", 1, base + at(hours=9), members(0, 0, 1, 2, 3)),
            ],
        ),
        Schedule(
            "S02",
            "Platform business hours",
            "Europe/Berlin",
            "T0",
            [
                rot(
                    "R02",
                    "office",
                    "weekly",
                    1,
                    base + at(hours=9),
                    members(0, 4, 5, 1),
                    _weekday_windows(range(5), 9 * 60, 8 * 60),
                ),
                rot(
                    "R03",
                    "out of hours",
                    "daily",
                    1,
                    base + at(hours=17),
                    members(0, 0, 2, 3, 5),
                    _weekday_windows(range(7), 17 * 60, 16 * 60),
                    daily=True,
                ),
            ],
        ),
        Schedule(
            "S03",
            "Payments primary",
            "America/New_York",
            "T1",
            [
                rot("R04", "daily", "daily", 1, base + at(hours=8), members(1, 0, 1, 2, 3, 4)),
            ],
        ),
        Schedule(
            "S04",
            "Payments follow the clock",
            "America/New_York",
            "T1",
            [
                rot(
                    "R05",
                    "day",
                    "daily",
                    1,
                    base + at(hours=8),
                    members(1, 5, 0, 2),
                    _weekday_windows(range(7), 8 * 60, 12 * 60),
                    daily=True,
                ),
                rot(
                    "R06",
                    "night",
                    "daily",
                    1,
                    base + at(hours=20),
                    members(1, 3, 4),
                    _weekday_windows(range(7), 20 * 60, 12 * 60),
                    daily=True,
                ),
            ],
        ),
        Schedule(
            "S05",
            "Data primary",
            "Asia/Tokyo",
            "T2",
            [
                rot(
                    "R07",
                    "weekly",
                    "weekly",
                    1,
                    base + at(days=2, hours=10),
                    members(2, 0, 1, 2, 3),
                ),
            ],
        ),
        Schedule(
            "S06",
            "Data twelve hours",
            "Asia/Tokyo",
            "T2",
            [
                rot("R08", "halves", "hourly", 12, base + at(hours=9), members(2, 4, 5, 0)),
            ],
        ),
        Schedule(
            "S07",
            "SRE primary",
            "UTC",
            "T3",
            [
                rot("R09", "two days", "daily", 2, base + at(hours=6), members(3, 0, 1, 2, 3)),
            ],
        ),
        Schedule(
            "S08",
            "SRE weekend",
            "UTC",
            "T3",
            [
                rot(
                    "R10",
                    "weekend",
                    "weekly",
                    1,
                    base + at(days=4, hours=18),
                    members(3, 4, 5),
                    [(4 * _DAY + 18 * 60, 60 * 60)],
                ),
            ],
        ),
        Schedule(
            "S09",
            "Mobile primary",
            "America/New_York",
            "T4",
            [
                rot("R11", "weekly", "weekly", 1, base + at(days=4, hours=16), members(4, 0, 1, 2)),
            ],
        ),
        Schedule(
            "S10",
            "Support daytime",
            "Europe/Berlin",
            "T5",
            [
                rot(
                    "R12",
                    "daytime",
                    "daily",
                    1,
                    base + at(hours=7),
                    members(5, 0, 1, 2, 3, 4),
                    _weekday_windows(range(7), 7 * 60, 12 * 60),
                    daily=True,
                ),
            ],
        ),
        Schedule(
            "S11",
            "Edge Casablanca",
            "Africa/Casablanca",
            "T3",
            [rot("R13", "daily", "daily", 1, base + at(hours=8), members(3, 5, 4, 3))],
        ),
    ]
    end = anchor + timedelta(weeks=weeks)
    for index, schedule in enumerate(schedules):
        team = next(t for t in teams if t.id == schedule.team)
        for n in range(2 + index % 2):
            start = anchor + timedelta(days=3 + 9 * n + index, hours=rng.randrange(24))
            hours = rng.choice((4, 8, 12, 30))
            schedule.overrides.append((start, start + timedelta(hours=hours), team.members[-1]))
        write_shifts(schedule, anchor - timedelta(days=1), end + timedelta(days=1))
    _clock_change_overrides(schedules, teams, anchor, end)
    escalations = [
        Escalation(
            f"E{t}",
            f"{team.name.title()} escalation",
            team.id,
            (
                (
                    (5, 15, 30)[t % 3],
                    (("schedule", schedules[_first_schedule(schedules, team.id)].id),),
                ),
                (15, (("user", team.members[1]), ("user", team.members[2]))),
                (30, (("user", users[30 + t].id),)),
            )[: 2 + t % 2],
            1 + t % 3,
        )
        for t, team in enumerate(teams)
    ]
    services = [
        Service(
            f"P{s:02d}",
            name,
            teams[s % 6].id,
            escalations[s % 6].id,
            ((f"I{s:02d}a", "prometheus"), (f"I{s:02d}b", "events"))[: 1 + s % 2],
        )
        for s, name in enumerate(
            (
                "Checkout API",
                "Payments DB",
                "Data Pipeline",
                "Edge Proxy",
                "Mobile Backend",
                "Help Center",
                "Identity",
                "Search",
            )
        )
    ]
    maintenance = [
        Maintenance(
            "M1",
            "Database upgrade",
            anchor + timedelta(days=10, hours=22),
            anchor + timedelta(days=11, hours=1),
            ("P01",),
        ),
        Maintenance(
            "M2",
            "Proxy migration",
            anchor + timedelta(days=20, hours=2),
            anchor + timedelta(days=20, hours=4),
            ("P03",),
        ),
    ]
    return Org(anchor, end, users, teams, schedules, escalations, services, maintenance)


def _first_schedule(schedules: list[Schedule], team: str) -> int:
    return next(i for i, s in enumerate(schedules) if s.team == team)


def clock_changes(tz: str, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end) at which the zone's offset changes (hour steps)."""
    zone = ZoneInfo(tz)
    found: list[datetime] = []
    cursor = start.replace(minute=0, second=0, microsecond=0)
    while cursor < end:
        after = cursor + timedelta(hours=1)
        if cursor.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            found.append(after)
        cursor = after
    return found


def _clock_change_overrides(
    schedules: list[Schedule], teams: list[Team], anchor: datetime, end: datetime
) -> None:
    """An override across each clock change of a Berlin, a New York and the Casablanca
    schedule."""
    for schedule in (schedules[0], schedules[8], schedules[10]):
        team = next(t for t in teams if t.id == schedule.team)
        for change in clock_changes(schedule.tz, anchor, end):
            cover = (change - timedelta(hours=3), change + timedelta(hours=2), team.members[4])
            clash = any(a < cover[1] and cover[0] < b for a, b, _ in schedule.overrides)
            if not clash:
                schedule.overrides.append(cover)
        schedule.overrides.sort()


def final_shifts(schedule: Schedule) -> list[Interval]:
    """The schedule's final timeline from the shift lists: the overrides, and the
    rotation turns where no override is."""
    found: list[Interval] = list(schedule.overrides)
    for rotation in schedule.rotations:
        for a, b, person in rotation.shifts:
            pieces = [(a, b)]
            for c, d, _ in schedule.overrides:
                pieces = [
                    part
                    for lo, hi in pieces
                    for part in ((lo, min(hi, c)), (max(lo, d), hi))
                    if part[0] < part[1]
                ]
            found += [(lo, hi, person) for lo, hi in pieces]
    return sorted(found)
