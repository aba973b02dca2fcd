"""One page of a list, and how many rows the whole list has.

The list endpoints answer ``{items, total}`` for ``limit``/``offset``: the services
build the filtered, ordered query and hand it to :func:`paginate`, which counts the
rows it matches (ordering left out) and reads the page.

A deep ``offset`` makes the database walk every row before the page. The long lists
(incidents, a timeline) also take a *cursor*: the ``next_cursor`` of the page before,
an opaque token holding the sort key of that page's last row, so the next page starts
at that key through an index and costs the same however deep it is, and rows added
meanwhile neither repeat nor shift a row out of the pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput

__all__ = ["BAD_CURSOR", "CURSOR_HELP", "count", "decode_cursor", "encode_cursor", "paginate"]

CURSOR_HELP = (
    "The next_cursor of the previous page: the page after it, however deep, with no row "
    "repeated or skipped when rows are added meanwhile."
)
BAD_CURSOR = "not a cursor of this list: pass a next_cursor it returned"

T = TypeVar("T")


def count(*, session: Session, query: Select[*tuple[Any, ...]]) -> int:
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


def encode_cursor(*key: int | str) -> str:
    """The cursor of a page's last row, from its sort key."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(field: str, cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The sort key in ``cursor``, which must hold values of the types in ``shape``;
    anything else is refused naming ``field``."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(type(value) is kind for value, kind in zip(key, shape, strict=False))
    ):
        raise InvalidInput(field, BAD_CURSOR)
    return key
