"""Where a Tocsin object lives in an outside system: an incident's Slack channel and
pinned summary, its Jira issue, an action item's Jira issue, the PagerDuty dedup key it
was forwarded under.

One row per ``(system, kind, subject)``; ``subject`` names the Tocsin side
("incident:12", "action_item:5") so any adapter can keep its references without a
schema change of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime

__all__ = ["ExternalRef", "find_ref", "find_subject", "incident_subject", "put_ref"]


class ExternalRef(Base):
    __tablename__ = "external_refs"
    __table_args__ = (UniqueConstraint("system", "kind", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(100), index=True)
    external_id: Mapped[str] = mapped_column(String(255), index=True)
    url: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def incident_subject(incident_id: int) -> str:
    return f"incident:{incident_id}"


def find_ref(*, session: Session, system: str, kind: str, subject: str) -> ExternalRef | None:
    return session.scalar(
        select(ExternalRef).where(
            ExternalRef.system == system, ExternalRef.kind == kind, ExternalRef.subject == subject
        )
    )


def find_subject(*, session: Session, system: str, kind: str, external_id: str) -> str | None:
    """The Tocsin subject an outside id belongs to (a Slack channel id -> "incident:12")."""
    return session.scalar(
        select(ExternalRef.subject).where(
            ExternalRef.system == system,
            ExternalRef.kind == kind,
            ExternalRef.external_id == external_id,
        )
    )


def put_ref(
    *,
    session: Session,
    system: str,
    kind: str,
    subject: str,
    external_id: str,
    now: datetime,
    url: str | None = None,
    data: Mapping[str, Any] | None = None,
    new_subject: bool = False,
) -> ExternalRef:
    """Create or update the reference (the caller's transaction commits it).
    ``new_subject``: the caller knows the subject has no reference of this kind yet (it
    was created in this transaction, or the caller just looked); nothing is looked up or
    flushed."""
    if new_subject:
        added = ExternalRef(
            system=system,
            kind=kind,
            subject=subject,
            external_id=external_id,
            url=url,
            data=dict(data or {}),
            created_at=now,
            updated_at=now,
        )
        session.add(added)
        return added
    ref = find_ref(session=session, system=system, kind=kind, subject=subject)
    if ref is None:
        ref = ExternalRef(
            system=system,
            kind=kind,
            subject=subject,
            external_id=external_id,
            url=url,
            data=dict(data or {}),
            created_at=now,
            updated_at=now,
        )
        session.add(ref)
    else:
        ref.external_id = external_id
        ref.url = url if url is not None else ref.url
        if data is not None:
            ref.data = {**ref.data, **data}
        ref.updated_at = now
    session.flush()
    return ref
