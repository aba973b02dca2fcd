"""What responders learn about an incident's cause, kept with the incident.

- :class:`IncidentHint` — one ranked hypothesis about the cause (a recent change, a
  failing dependency, a resource running out, a similar past incident), with its
  evidence; responders confirm or reject it. Hints are computed above this layer
  (:mod:`tocsin.hints`); they are stored here so that everything that shows an
  incident (the post-mortem draft, chat, the dashboard) can read them.
- :class:`IncidentLink` — this incident is downstream of another: one of its services
  depends on a service of the other, which was already open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime

__all__ = ["HintStatus", "IncidentHint", "IncidentLink"]


class HintStatus:
    """The values of :attr:`IncidentHint.status`."""

    open = "open"
    confirmed = "confirmed"
    rejected = "rejected"


class IncidentHint(Base):
    """One hypothesis about an incident's cause. ``key`` names what it is about
    (``change:12``, ``upstream:payments-db``...) so that computing again updates it."""

    __tablename__ = "incident_hints"
    __table_args__ = (UniqueConstraint("incident_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    #: 1 = the most likely; 0 = no longer produced by the rules (kept: a person decided).
    rank: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(String(500))
    #: Each ``{"kind", "ref", "text", "href"}``.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    #: The root-cause category a confirmation gives the post-mortem.
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=HintStatus.open)
    #: Whether it ranked first when a person decided it.
    top_when_decided: Mapped[bool | None] = mapped_column(Boolean)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentLink(Base):
    """``downstream_id`` is downstream of ``upstream_id``; ``reason`` says which
    dependency made it so; ``held`` says its pages waited for the upstream."""

    __tablename__ = "incident_links"
    __table_args__ = (
        UniqueConstraint("downstream_id", "upstream_id"),
        Index("ix_incident_links_upstream", "upstream_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    downstream_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    upstream_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
