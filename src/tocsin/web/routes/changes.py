"""Changes to services (deploys, configuration updates), as received from PagerDuty
change events: ``GET /api/v1/changes`` (filters: service, since; paginated)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tocsin.changes import service as changes
from tocsin.changes.models import ChangeList
from tocsin.errors import InvalidInput
from tocsin.schemas import Instant, aware_utc
from tocsin.web.deps import SessionDep, Viewer

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["changes"])


@router.get("/changes")
def list_changes(
    session: SessionDep,
    _principal: Viewer,
    service: Annotated[str | None, Query(max_length=100, description="Only this service.")] = None,
    since: Annotated[
        Instant | None,
        Query(description="Only changes that happened at or after this time (RFC 3339)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ChangeList:
    """Changes, the most recent first (by when they happened)."""
    rows, total = changes.list_changes(
        session=session,
        service=service,
        since=None if since is None else _instant("since", since),
        limit=limit,
        offset=offset,
    )
    return ChangeList(
        items=[changes.change_to_read(row) for row in rows], total=total, limit=limit, offset=offset
    )


def _instant(field: str, value: datetime) -> datetime:
    try:
        return aware_utc(value)
    except ValueError as exc:  # no offset, or beyond the dates UTC can hold
        raise InvalidInput(field, str(exc)) from None
