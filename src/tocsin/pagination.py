"""One page of a list, and how many rows the whole list has.

The list endpoints answer ``{items, total}`` for ``limit``/``offset``: the services
build the filtered, ordered query and hand it to :func:`paginate`, which counts the
rows it matches (ordering left out) and reads the page.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

__all__ = ["count", "paginate"]

T = TypeVar("T")


def count(*, session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` matches (its ORDER BY, LIMIT and OFFSET left out)."""
    bare = query.order_by(None).limit(None).offset(None)
    return session.scalar(select(func.count()).select_from(bare.subquery())) or 0


def paginate(*, session: Session, query: Select[T], limit: int, offset: int) -> tuple[list[T], int]:
    """The rows of ``query`` from ``offset``, at most ``limit`` of them, and how many
    it matches in all. ``query`` selects one entity (or column) and carries the list's
    ordering, which must be total (end with a unique key) for pages not to overlap."""
    total = count(session=session, query=query)
    rows = list(session.scalars(query.limit(limit).offset(offset)))
    return rows, total
