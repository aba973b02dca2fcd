"""Tables of the worst day: alert storms and the inbox of large webhook batches.

``alert_storms`` holds one row per "alert storm" incident: how many alerts it took and
which alertnames and label values were the most common, kept up to date once per
ingest transaction (never once per alert) so that the page, the dashboard and the API
can say what the storm is made of without reading thousands of alerts.

``alert_inbox`` holds webhook bodies too large to be decided in one short transaction.
The request that brought one is answered once its row is committed (so a 2xx still
means "on disk"); the body is then decided in chunks, each chunk in a transaction that
also moves ``done`` on, so a crash in the middle loses nothing and repeats nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime

__all__ = ["AlertStorm", "InboxBatch"]


class AlertStorm(Base):
    """What an alert-storm incident is made of (one row per storm incident)."""

    __tablename__ = "alert_storms"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    #: ``service:<name>`` or ``integration:<id>``: what the burst was counted over.
    scope: Mapped[str] = mapped_column(String(200))
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    #: alertname -> alerts (the most common ones; see :mod:`tocsin.alerts.storms`).
    alertnames: Mapped[dict[str, int]] = mapped_column(JSONValue, default=dict)
    #: ``label=value`` -> alerts, for the labels other than alertname.
    label_values: Mapped[dict[str, int]] = mapped_column(JSONValue, default=dict)
    #: Incidents of the same burst merged into this one (``INC-n``).
    merged: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the timeline last said how large the storm is, and the count it said.
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    noted_count: Mapped[int] = mapped_column(Integer, default=0)


class InboxBatch(Base):
    """A large webhook body, stored as received and decided a chunk at a time."""

    __tablename__ = "alert_inbox"
    __table_args__ = (Index("ix_alert_inbox_open", "finished_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    #: The parser's name: ``alertmanager``, ``grafana`` or ``events``.
    source: Mapped[str] = mapped_column(String(20))
    #: The decoded body, exactly as received.
    body: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
