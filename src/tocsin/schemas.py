"""Field types shared by the API schemas of every domain.

Request bodies are JSON, and their fields take JSON's own types only: a boolean field
takes ``true``/``false`` (not ``1`` or ``"yes"``), a whole number takes a number (not
``true`` or ``"2"``), an instant takes an RFC 3339 string (not a Unix time). What a
field accepts is then exactly what the OpenAPI document says it accepts, so a client
generated from it never sends something that is refused, nor has a typo coerced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "WHOLE",
    "Day",
    "Flag",
    "Instant",
    "OneOf",
    "PlainText",
    "WholeNumber",
    "aware_utc",
    "no_nul",
    "one_of",
    "padded",
]


def aware_utc(value: datetime) -> datetime:
    """An instant with an explicit offset, converted to UTC."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2026-01-05T09:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported range of dates") from None


def no_nul(value: str) -> str:
    """``value``, unless it holds a NUL character (PostgreSQL cannot store one)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: Text that every database can store (PostgreSQL refuses NUL characters).
PlainText = Annotated[str, AfterValidator(no_nul)]

#: RFC 3339, also with the seconds left out or a space for the ``T`` (as people type
#: them: ``2026-03-05T10:00Z``); never a number, a bare date or a time without offset.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # built in code, not sent
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time string with an offset, e.g. 2026-01-05T09:00:00Z"
        )
    return value


def _day_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a date string, e.g. 2026-01-05")
    return value


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number, not a string or a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


#: An instant: an RFC 3339 string with an offset (``2026-01-05T09:00:00Z``), in UTC.
Instant = Annotated[datetime, BeforeValidator(_rfc3339_text), AfterValidator(aware_utc)]
#: A calendar date: ``2026-01-05``.
Day = Annotated[date, BeforeValidator(_day_text)]
#: ``true`` or ``false``, nothing else.
Flag = StrictBool
#: Makes an ``int`` field take a JSON number without a fraction (``2`` or ``2.0``),
#: never a string or a boolean. Put it after the bounds, so that the OpenAPI document
#: shows them: ``Annotated[int, Field(ge=1), WHOLE]``.
WHOLE = BeforeValidator(_whole_number)
#: A whole number without bounds.
WholeNumber = Annotated[int, WHOLE]


def one_of(names: Iterable[str], *, comma_separated: bool = False) -> str:
    """The pattern of a value that is exactly one of ``names`` (or, with
    ``comma_separated``, a list of them joined by commas: ``triggered,acknowledged``).

    The services that read these values are lenient (case, spaces, empty items); the
    routes take only the canonical spelling, which is what the OpenAPI document can
    state exactly."""
    choice = "|".join(re.escape(name) for name in names)
    if comma_separated:
        return f"^({choice})(,({choice}))*$"
    return f"^({choice})$"


#: Blanks around a value, which the request models strip (``str_strip_whitespace``):
#: only those every regular expression dialect agrees on.
PADDING = "[ \\t\\n\\r]*"


def padded(pattern: str) -> str:
    """``pattern`` (anchored with ``^...$``) with blanks allowed around the value."""
    return f"^{PADDING}{pattern[1:-1]}{PADDING}$"


@dataclass(frozen=True)
class OneOf:
    """Makes a text field take one of ``names`` (``Annotated[str, OneOf(...)]``), or,
    with ``comma_separated``, a list of them joined by commas. A value that is not one
    is refused naming the valid ones (``unknown status 'x'; valid: ...``), and the
    OpenAPI document states the choice as a pattern. ``padded`` also allows the blanks
    a model with ``str_strip_whitespace`` strips."""

    names: tuple[str, ...]
    what: str
    comma_separated: bool = False
    padded: bool = False

    def pattern(self) -> str:
        pattern = one_of(self.names, comma_separated=self.comma_separated)
        return padded(pattern) if self.padded else pattern

    def check(self, value: str) -> str:
        if re.fullmatch(self.pattern()[1:-1], value) is None:
            raise PydanticCustomError(
                "one_of",
                "unknown {what} {value}; valid: {valid}",
                {"what": self.what, "value": repr(value), "valid": ", ".join(self.names)},
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern()
        return json_schema
