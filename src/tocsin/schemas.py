"""Field types shared by the API schemas of every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["PlainText", "aware_utc"]


def aware_utc(value: datetime) -> datetime:
    """An instant with an explicit offset, converted to UTC."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2026-01-05T09:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported range of dates") from None


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: Text that every database can store (PostgreSQL refuses NUL characters).
PlainText = Annotated[str, AfterValidator(_no_nul)]
