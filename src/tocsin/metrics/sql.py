"""SQL expressions the metrics queries share, the same on SQLite and PostgreSQL.

Times are turned into numbers by the database: a float is far cheaper to fetch than a
timezone-aware datetime, which matters when a year holds 100,000 incidents.

Precision: PostgreSQL's ``extract(epoch ...)`` is exact. SQLite's ``julianday()`` is a
double of about 2.5 million days, exact to ~25 µs, so a duration may be off by up to
~50 µs. Rounding every value in SQL costs more than the rest of the query, so
the loader takes the Julian days as they are and rounds durations and instants to the
millisecond with numpy; histogram buckets, computed in SQL, are compared with half a
millisecond of slack (:data:`tocsin.metrics.rules.SLACK`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, extract, func
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.metrics.table import FloatArray

__all__ = ["instant", "is_drill", "seconds_between", "to_epoch_seconds"]

_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def _postgres(*, session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def instant(*, session: Session, column: Any) -> ColumnElement[float]:
    """A timestamp as the number the database computes most cheaply: epoch seconds on
    PostgreSQL, the Julian day on SQLite (parsing each stored text once); NULL stays
    NULL. :func:`to_epoch_seconds` turns a column of them into epoch seconds."""
    if _postgres(session=session):
        return cast(extract("epoch", column), Float)
    return func.julianday(column)


def to_epoch_seconds(*, session: Session, values: FloatArray) -> FloatArray:
    """Numbers from :func:`instant` as epoch seconds (NaN stays NaN)."""
    if _postgres(session=session):
        return values
    seconds: FloatArray = (values - _UNIX_EPOCH_JULIAN_DAY) * 86400.0
    return seconds


def seconds_between(
    *, session: Session, start: Any, end: Any, at_least_zero: bool = False
) -> ColumnElement[float]:
    """``end - start`` in seconds (see the precision note); NULL if either is NULL;
    ``at_least_zero``: a negative difference is 0."""
    seconds: ColumnElement[float]
    if _postgres(session=session):
        seconds = cast(extract("epoch", end - start), Float)
        return case((seconds < 0, 0.0), else_=seconds) if at_least_zero else seconds
    seconds = (func.julianday(end) - func.julianday(start)) * 86400.0
    # SQLite's max() with several arguments is NULL when one is NULL, as wanted here.
    return func.max(seconds, 0.0) if at_least_zero else seconds


def is_drill() -> ColumnElement[bool]:
    """The incident was declared as a drill (never a tag a rule or a title gives it)."""
    return Incident.drill.is_(True)
