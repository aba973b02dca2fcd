"""Recording and listing changes. Never commits: the caller's transaction does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.changes.models import Change, ChangeRead
from tocsin.pagination import paginate

__all__ = ["change_to_read", "list_changes", "record_change"]


def record_change(
    *,
    session: Session,
    service: str,
    integration: str | None,
    summary: str,
    source: str | None,
    timestamp: datetime | None,
    links: Sequence[Mapping[str, str]],
    custom_details: Any,
    now: datetime,
    kind: str | None = None,
) -> Change:
    """Store one change to ``service``; ``timestamp`` defaults to ``now``. The values
    must already be storable (the parsers clean what they accept)."""
    change = Change(
        service=service,
        integration=integration,
        summary=summary,
        kind=kind,
        source=source,
        timestamp=timestamp or now,
        received_at=now,
        links=[dict(link) for link in links],
        custom_details=custom_details,
    )
    session.add(change)
    session.flush()
    return change


def list_changes(
    *,
    session: Session,
    service: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Change], int]:
    """Changes, the most recent first (by when they happened), and how many match."""
    query = select(Change)
    if service is not None:
        query = query.where(Change.service == service)
    if since is not None:
        query = query.where(Change.timestamp >= since)
    query = query.order_by(Change.timestamp.desc(), Change.id.desc())
    return paginate(session=session, query=query, limit=limit, offset=offset)


def change_to_read(change: Change) -> ChangeRead:
    return ChangeRead(
        id=change.id,
        service=change.service,
        integration=change.integration,
        summary=change.summary,
        kind=change.kind,
        source=change.source,
        timestamp=change.timestamp,
        received_at=change.received_at,
        links=list(change.links),
        custom_details=change.custom_details,
    )
