"""Outbox rows and their API schemas.

A `Notification` is a message that was decided: for a person (channel "person": how
they are reached is decided at delivery time from their notification rules) or for one
channel (a broadcast to the incidents channel). The delivery worker expands it into one
`Delivery` per channel and time step; each delivery moves pending → sending (with a
deadline) → sent | failed, or cancelled when an acknowledgement made it moot (CHECK
constraints). The notification's own state sums its deliveries up (see
`tocsin.notify.rules.summarize`): pending while any is due, sent once any reached the
recipient, failed (the dead letter) when none did.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
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
    subscriber = "subscriber"
    broadcast = "broadcast"
    postmortem = "postmortem"
    slo_burn = "slo_burn"


#: A message or delivery not sent yet, in SQL. SQLite uses a partial index only for a
#: query whose WHERE repeats the index's condition with the same literal values (never
#: with bound parameters), so the indexes below and their queries share this text.
UNSENT_SQL = "state IN ('pending', 'sending')"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_state_due", "state", "due_at"),
        Index("ix_notifications_incident", "incident_id", "id"),
        Index(
            "ix_notifications_unsent_channel",
            "channel",
            sqlite_where=text(UNSENT_SQL),
            postgresql_where=text(UNSENT_SQL),
        ),
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
    #: When the delivery worker split it into deliveries; None while it waits for that.
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it waits past its creation: "throttled: 5 sms in 15m", "retry 2 of 10 ...".
    delay_reason: Mapped[str | None] = mapped_column(Text)
    #: Whose turn it is (see :mod:`tocsin.db.lanes`): the incident's lane, or "" for none.
    lane: Mapped[str] = mapped_column(String(100), default="", server_default="")


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
    delay_reason: str | None = None
    deliveries: list[DeliveryRead] = []


class NotificationList(BaseModel):
    items: list[NotificationRead]
    total: int


# ---------------------------------------------------------------- per-channel deliveries


class DeliveryState(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class Delivery(Base):
    """One message on one channel. `key` (the notification's key + step + channel) is the
    idempotency key channels that honour one receive (webhook: `Idempotency-Key`)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_channel_state_due", "channel", "state", "due_at"),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_channel_started", "channel", "started_at"),
        Index("ix_deliveries_notification", "notification_id"),
        Index("ix_deliveries_incident", "incident_id"),
        Index(
            "ix_deliveries_unsent_channel_state",
            "channel",
            "state",
            sqlite_where=text(UNSENT_SQL),
            postgresql_where=text(UNSENT_SQL),
        ),
        CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name="state"
        ),
        CheckConstraint(
            "state <> 'sending' OR (deadline_at IS NOT NULL AND claimed_by IS NOT NULL)",
            name="sending_deadline",
        ),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(400), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(300))
    step: Mapped[int] = mapped_column(Integer, default=0)
    #: For a delayed step: skip it if the incident is by then "acknowledged" / "resolved".
    unless: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the latest attempt started (rate limits count these).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: While `sending`: past this, the sender is presumed dead and the outcome unknown.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    delay_reason: Mapped[str | None] = mapped_column(Text)
    #: Whose turn it is (see :mod:`tocsin.db.lanes`): the incident's lane, or "" for none.
    lane: Mapped[str] = mapped_column(String(100), default="", server_default="")


class ChannelThrottle(Base):
    """A channel told to wait (HTTP 429 Retry-After): nothing is sent on it before then."""

    __tablename__ = "channel_throttles"

    channel: Mapped[str] = mapped_column(String(50), primary_key=True)
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryCursor(Base):
    """How far a feed (the broadcasts' reading of the timeline) has got."""

    __tablename__ = "delivery_cursors"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRead(BaseModel):
    id: int
    channel: str
    target: str | None
    step: int
    state: str
    attempts: int
    due_at: datetime
    started_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    delay_reason: str | None


NotificationRead.model_rebuild()
