"""Field types for local and absolute times in the policy file.

A schedule is written in its team's wall-clock time ("Monday 09:00"), so local times
and local date-times carry no offset; an override is a real interval, so its ends are
instants with one. A stakeholder step may fire at once, so its delay may be zero,
unlike a :data:`~tocsin.policy.durations.Duration`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from tocsin.policy.durations import DURATION_PATTERN, format_duration, parse_duration

__all__ = ["Delay", "Instant", "LocalDateTime", "LocalTime", "as_delay"]

_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _local_time(value: object) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and (match := _TIME_RE.match(value.strip())):
        return time(int(match[1]), int(match[2]))
    raise PydanticCustomError(
        "local_time",
        "expected a local time of day as 'HH:MM' (24-hour, quoted), e.g. '09:00'; got {value}",
        {"value": repr(value)},
    )


def _local_datetime(value: object) -> datetime:
    """A wall-clock date and time without an offset: the schedule's zone applies."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = datetime.combine(value.date(), value.time(), value.tzinfo)
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise PydanticCustomError(
            "local_datetime",
            "expected a local date and time such as '2026-01-05T09:00'; got {value}",
            {"value": repr(value)},
        )
    if parsed.tzinfo is not None:
        raise PydanticCustomError(
            "local_datetime_offset",
            "write a local time without an offset or 'Z' (the schedule's timezone applies); "
            "got {value}",
            {"value": repr(value)},
        )
    return parsed


def _aware_datetime(value: object) -> datetime:
    """An instant: a date and time with an offset (or 'Z'), kept as a plain UTC datetime."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = datetime.combine(value.date(), value.time(), value.tzinfo)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError(
            "instant",
            "expected a date and time with an offset, e.g. '2026-02-01T00:00:00Z'; got {value}",
            {"value": repr(value)},
        )
    return parsed.astimezone(UTC)


def _delay(value: object) -> timedelta:
    """Like ``Duration`` but zero is allowed: a stakeholder step can fire at the start."""
    if isinstance(value, timedelta) and value >= timedelta(0):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "delay",
        "expected a duration with a unit such as '0m', '15m' or '1h'; got {value}",
        {"value": repr(value)},
    )


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _TIME_RE.pattern,
            "description": "Local time of day, 'HH:MM' (24-hour), e.g. '09:00'.",
        }
    ),
]
LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_local_datetime),
    PlainSerializer(lambda d: d.isoformat(timespec="minutes"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Local wall-clock date and time without offset, "
            "e.g. '2026-01-05T09:00'.",
        }
    ),
]
Instant = Annotated[
    datetime,
    BeforeValidator(_aware_datetime),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "Date and time with an offset, e.g. '2026-02-01T00:00:00Z'.",
        }
    ),
]
Delay = Annotated[
    timedelta,
    BeforeValidator(_delay),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "Time since the incident started, e.g. '0m', '15m', '1h'.",
        }
    ),
]


def as_delay(value: object) -> timedelta | None:
    """``value`` as a delay, or ``None`` if it is not one (for checks on raw data)."""
    try:
        return _delay(value)
    except PydanticCustomError:
        return None
