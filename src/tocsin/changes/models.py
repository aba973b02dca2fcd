"""The ``changes`` table and its API schemas.

A change belongs to the service of the integration it came in on. ``timestamp`` is
when the sender says the change happened (the time it was received when it said
nothing); ``received_at`` is when Tocsin stored it. Links and custom details are kept
as sent (cleaned of control characters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime

__all__ = ["Change", "ChangeList", "ChangeRead"]


class Change(Base):
    """One change to a service."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_timestamp", "timestamp", "id"),
        Index("ix_changes_service_timestamp", "service", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The name of the integration it came in on (names are unique and never change).
    integration: Mapped[str | None] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(1024))
    #: deploy, config, feature_flag, migration or other; None when the sender said nothing.
    kind: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONValue, default=list)
    custom_details: Mapped[Any] = mapped_column(JSONValue, nullable=True)


class ChangeRead(BaseModel):
    id: int
    service: str
    integration: str | None = Field(description="The integration it came in on.")
    summary: str
    kind: str | None = Field(description="deploy, config, feature_flag, migration or other.")
    source: str | None
    timestamp: datetime = Field(description="When the change happened, as its sender said.")
    received_at: datetime
    links: list[dict[str, str]] = Field(description="Each {href, text}.")
    custom_details: Any = Field(description="As sent (usually an object).")


class ChangeList(BaseModel):
    items: list[ChangeRead]
    total: int
    limit: int
    offset: int
