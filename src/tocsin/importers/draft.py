"""What an importer builds: the policy sections, as the plain data of the YAML file,
and the report of what could not be carried over.

The helpers here hold the mappings all three products share: names made into policy
names, weekly windows of local time made into restrictions, delays made into
durations.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tocsin.policy.durations import format_duration
from tocsin.policy.oncall import WEEKDAYS

__all__ = [
    "Draft",
    "Names",
    "Unmapped",
    "changes_clocks",
    "duration_text",
    "local_start",
    "note_wall_clock",
    "phone_number",
    "rotation_of",
    "weekly_restrictions",
]

_WEEK_MINUTES = 7 * 24 * 60
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Unmapped:
    """Something of the source that the policy does not carry (or carries differently):
    ``kind`` and ``name`` say what, ``reason`` why and what was done instead."""

    kind: str
    name: str
    reason: str


@dataclass
class Draft:
    """The imported sections, in the policy file's own shape."""

    product: str
    people: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    escalation_policies: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    maintenance_windows: list[dict[str, Any]] = field(default_factory=list)
    notification_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    #: Commands to run after the import (integrations live in the database, not the file).
    next_steps: list[str] = field(default_factory=list)

    def skip(self, kind: str, name: str, reason: str) -> None:
        self.unmapped.append(Unmapped(kind, name, reason))

    def counts(self) -> dict[str, int]:
        return {
            "people": len(self.people),
            "teams": len(self.teams),
            "schedules": len(self.schedules),
            "escalation policies": len(self.escalation_policies),
            "services": len(self.services),
            "maintenance windows": len(self.maintenance_windows),
            "people with notification rules": len(self.notification_rules),
        }


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", plain.lower()).strip("-._")
    return slug or "unnamed"


class Names:
    """Policy names for the source's objects: unique per kind, stable per source id."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str], str] = {}
        self._taken: dict[str, set[str]] = {}

    def assign(self, kind: str, source_id: str, label: str) -> str:
        key = (kind, source_id)
        if key in self._by_id:
            return self._by_id[key]
        taken = self._taken.setdefault(kind, set())
        base = _slug(label)
        name, counter = base, 2
        while name in taken:
            name, counter = f"{base}-{counter}", counter + 1
        taken.add(name)
        self._by_id[key] = name
        return name

    def get(self, kind: str, source_id: str) -> str | None:
        return self._by_id.get((kind, source_id))


def duration_text(seconds: float) -> str:
    """A policy duration for a whole number of seconds (``"15m"``, ``"1h30m"``)."""
    return format_duration(timedelta(seconds=round(seconds)))


def rotation_of(turn: timedelta) -> dict[str, Any]:
    """``rotation`` (and ``length``) of a layer whose turns last ``turn``."""
    if turn == timedelta(days=1):
        return {"rotation": "daily"}
    if turn == timedelta(weeks=1):
        return {"rotation": "weekly"}
    return {"rotation": "custom", "length": format_duration(turn)}


def changes_clocks(zone: Any) -> bool:
    """Whether ``zone`` (a ZoneInfo) has daylight-saving time (January and July differ)."""
    january = datetime(2027, 1, 15, 12).replace(tzinfo=zone).utcoffset()
    july = datetime(2027, 7, 15, 12).replace(tzinfo=zone).utcoffset()
    return january != july


def local_start(instant: datetime, zone: Any) -> str:
    """The local wall-clock ``"YYYY-MM-DDTHH:MM"`` of an aware instant in ``zone``."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def phone_number(country_code: int | str | None, number: str) -> str | None:
    """E.164 (``+15555550101``) from a country code and a national number, or from one
    string such as ``1-5555550101`` or ``+49 30 1234567``; ``None`` if it is not one."""
    digits = re.sub(r"\D", "", number)
    code = re.sub(r"\D", "", str(country_code)) if country_code not in (None, "") else ""
    if code and not digits.startswith(code):
        digits = code + digits
    if not 3 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def _hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def weekly_restrictions(windows: list[tuple[int, int]]) -> list[dict[str, Any]] | None:
    """Restrictions covering exactly the weekly windows ``(start, length)`` given in
    minutes from Monday 00:00 local time.

    A window of a day or less is one restriction (``to`` before ``from`` runs past
    midnight); a longer one is cut at local midnights. Pieces with the same times are
    written as one restriction for several days. ``None`` when
    the windows cover the whole week (no restriction is needed).
    """
    if any(length >= _WEEK_MINUTES for _, length in windows):
        return None
    pieces: dict[tuple[int, int], set[int]] = {}
    covered = 0
    for start, length in windows:
        covered += length
        cursor, end = start, start + length
        while cursor < end:
            day_end = (cursor // _DAY_MINUTES + 1) * _DAY_MINUTES
            stop = end if length <= _DAY_MINUTES else min(day_end, end)
            day = (cursor // _DAY_MINUTES) % 7
            pieces.setdefault((cursor % _DAY_MINUTES, stop - cursor), set()).add(day)
            cursor = stop
    if covered >= _WEEK_MINUTES and len(pieces) == 1 and (0, _DAY_MINUTES) in pieces:
        return None
    found: list[dict[str, Any]] = []
    for (begin, length), days in sorted(pieces.items()):
        found.append(
            {
                "days": [WEEKDAYS[d] for d in sorted(days)],
                "from": _hhmm(begin),
                "to": _hhmm((begin + length) % _DAY_MINUTES),
            }
        )
    return found


def note_wall_clock(draft: Draft, label: str, turn: timedelta, zone: Any) -> None:
    """Turns other than whole days are counted on the local wall clock by Tocsin; in a
    zone that changes its clocks the turn across a change is an hour shorter or longer."""
    if turn % timedelta(days=1) and changes_clocks(zone):
        draft.skip(
            "rotation length",
            label,
            f"turns of {duration_text(turn.total_seconds())} are counted on the local wall "
            "clock: the turn across a clock change is an hour shorter or longer",
        )
