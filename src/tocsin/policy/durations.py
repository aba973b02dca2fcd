"""Human durations for the policy file: ``"30s"``, ``"15m"``, ``"1h30m"``, ``"1d"``.

Units run from largest to smallest (days, hours, minutes, seconds), each at most once.
Policy durations are written as strings so that the YAML reads the way people talk
about response targets, and so that the JSON Schema can check them with a pattern.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = ["DURATION_PATTERN", "Duration", "format_duration", "parse_duration"]

#: ECMAScript-compatible too, so editors can use it from the JSON Schema.
#: The lookahead rejects the empty string.
DURATION_PATTERN = r"^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_HINT = "use a number and a unit (s, m, h, d), e.g. '30s', '15m', '1h30m', '1d'"


def parse_duration(text: str) -> timedelta:
    """Parse ``"1h30m"`` into a timedelta; raises ``ValueError`` naming the bad text."""
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    seconds = 0
    for group, (_, size) in zip(match.groups(), _UNITS, strict=True):
        if group:
            seconds += int(group[:-1]) * size
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way :func:`parse_duration` reads it (``"1h30m"``, ``"0s"``)."""
    if value < timedelta(0):
        raise ValueError(f"cannot format a negative duration: {value}")
    if value.microseconds:
        raise ValueError(f"cannot format a duration with fractional seconds: {value}")
    remaining = int(value.total_seconds())
    parts: list[str] = []
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _validate_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str):
        try:
            result = parse_duration(value)
        except ValueError:
            raise PydanticCustomError(
                "duration_format",
                "invalid duration {value}: " + _HINT,
                {"value": repr(value)},
            ) from None
    else:
        # A bare YAML number is ambiguous (seconds? minutes?), so it is refused.
        raise PydanticCustomError(
            "duration_type",
            "expected a duration string with a unit, e.g. '15m'; got {value}",
            {"value": repr(value)},
        )
    if result <= timedelta(0):
        raise PydanticCustomError("duration_positive", "duration must be greater than zero")
    return result


#: A positive duration: validated from ``"15m"``-style strings (or a timedelta),
#: serialised back to the same string form.
Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration such as '30s', '15m', '1h30m' or '1d' "
            "(units d, h, m, s, largest first); must be greater than zero.",
            "examples": ["5m", "1h30m", "1d"],
        }
    ),
]
