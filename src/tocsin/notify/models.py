"""Outbox rows and their API schemas.

A message moves pending → sending → sent | failed (CHECK constraint); `cancelled` is for
messages made moot before they went out. Delivery channels come with the delivery worker;
until then a page waits as `pending` with the person and the reason it was decided.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime


class NotificationState(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class NotificationKind(StrEnum):
    page = "page"
    stakeholder = "stakeholder"
    reminder = "reminder"
    handoff = "handoff"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_state_due", "state", "due_at"),
        Index("ix_notifications_incident", "incident_id", "id"),
        CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name="state"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    state: Mapped[str] = mapped_column(String(10), default=NotificationState.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationRead(BaseModel):
    id: int
    incident_id: str | None
    person: str
    kind: str
    channel: str
    subject: str
    body: str
    reason: str
    state: str
    attempts: int
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class NotificationList(BaseModel):
    items: list[NotificationRead]
    total: int
