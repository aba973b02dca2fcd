"""Instants typed on the command line, as a person at a terminal writes them.

Accepted forms (case does not matter)::

    now, today                      this moment
    tomorrow, yesterday             the same local time a day later or earlier
    tomorrow 09:00, today 18:30     that day at that local time
    09:00                           today at that local time
    +2h, -30m, in 1d, 3h ago        from now; units d, h, m, s, combined as 1h30m
    2026-03-05                      that day at 00:00 local time
    2026-03-05 10:00                that local time (a "T" may stand for the space)
    2026-03-05T10:00Z, ...+01:00    that instant

"Local" is this machine's time zone (``TZ``). A local time that a clock change skips is
read with the offset before the change (02:30 on a spring-forward night is 03:30), and
one that occurs twice is the first. Everything else is refused with a sentence that
lists these forms, never passed on for the server to reject in its own words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo

__all__ = ["FORMS", "parse_instant"]

FORMS = "now, tomorrow, +2h, 3h ago, 09:00, 2026-03-05 10:00 (local time) or 2026-03-05T10:00Z"

_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_CLOCK = re.compile(r"^(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?$")
_RELATIVE = re.compile(
    r"^(?:(?P<sign>[+-])\s*(?P<signed>\w+)|in\s+(?P<ahead>\w+)|(?P<ago>\w+)\s+ago)$"
)


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _localize(naive: datetime, zone: tzinfo | None) -> datetime:
    """``naive`` read as a wall-clock time in ``zone`` (this machine's when None)."""
    aware = naive.replace(tzinfo=zone, fold=0) if zone is not None else naive.astimezone()
    return aware.astimezone(UTC)


def _clock(text: str) -> time | None:
    match = _CLOCK.match(text)
    if match is None:
        return None
    hour, minute = int(match["hour"]), int(match["minute"])
    second = int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _relative(text: str, now: datetime) -> datetime | None:
    match = _RELATIVE.match(text)
    if match is None:
        return None
    # Imported here: the policy package is the slowest part of a command's start.
    from tocsin.policy.durations import parse_duration

    amount = match["signed"] or match["ahead"] or match["ago"]
    try:
        delta = parse_duration(amount)
    except ValueError:
        return None
    backwards = match["sign"] == "-" or match["ago"] is not None
    return now - delta if backwards else now + delta


def _day(words: list[str], now: datetime, zone: tzinfo | None) -> datetime | None:
    """``tomorrow``, ``today 18:30``, ``09:00``..."""
    if words[0] in _DAYS:
        shift = timedelta(days=_DAYS[words[0]])
        local_now = _local(now, zone).replace(tzinfo=None)
        if len(words) == 1:
            return now if not shift else _localize(local_now + shift, zone)
        at = _clock(words[1]) if len(words) == 2 else None
        if at is None:
            return None
        return _localize(datetime.combine(local_now.date() + shift, at), zone)
    at = _clock(words[0]) if len(words) == 1 else None
    if at is None:
        return None
    return _localize(datetime.combine(_local(now, zone).date(), at), zone)


def _iso(text: str, zone: tzinfo | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.upper())  # 2026-03-05t10:00z too
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return _localize(parsed, zone)
    return parsed.astimezone(UTC)


def parse_instant(text: str, now: datetime, zone: tzinfo | None = None) -> datetime:
    """The UTC instant ``text`` names, counting from ``now``; ``zone`` is the local
    time zone (this machine's when None). Raises ``ValueError`` with a sentence for
    the user."""
    cleaned = " ".join(text.split()).lower()
    if not cleaned:
        raise ValueError(f"give a time: {FORMS}")
    if cleaned == "now":
        return now.astimezone(UTC)
    found = (
        _relative(cleaned, now)
        or _day(cleaned.split(" "), now, zone)
        or _iso(" ".join(text.split()), zone)
    )
    if found is None:
        raise ValueError(f"{text!r} is not a time I can read; use {FORMS}")
    return found.astimezone(UTC)
