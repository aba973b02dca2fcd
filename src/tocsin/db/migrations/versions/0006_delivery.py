"""Delivery: per-channel deliveries of outbox messages, channel throttles, and the
broadcast feed's cursor.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("expanded_at", UTCDateTime()))
    op.add_column("notifications", sa.Column("delay_reason", sa.Text()))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "notification_id",
            sa.Integer(),
            sa.ForeignKey("notifications.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(400), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE")),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("target", sa.String(300)),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("unless", sa.String(20)),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text()),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delay_reason", sa.Text()),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name="state"
        ),
        sa.CheckConstraint(
            "state <> 'sending' OR (deadline_at IS NOT NULL AND claimed_by IS NOT NULL)",
            name="sending_deadline",
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
    )
    op.create_index("ix_deliveries_channel_state_due", "deliveries", ["channel", "state", "due_at"])
    op.create_index("ix_deliveries_state_due", "deliveries", ["state", "due_at"])
    op.create_index("ix_deliveries_channel_started", "deliveries", ["channel", "started_at"])
    op.create_index("ix_deliveries_notification", "deliveries", ["notification_id"])
    op.create_index("ix_deliveries_incident", "deliveries", ["incident_id"])
    op.create_table(
        "channel_throttles",
        sa.Column("channel", sa.String(50), primary_key=True),
        sa.Column("blocked_until", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "delivery_cursors",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    # Broadcasts announce what happens from now on, not an existing database's history.
    op.execute(
        "INSERT INTO delivery_cursors (name, position, updated_at) "
        "SELECT 'broadcasts', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM timeline_events"
    )


def downgrade() -> None:
    op.drop_table("delivery_cursors")
    op.drop_table("channel_throttles")
    op.drop_table("deliveries")
    op.drop_column("notifications", "delay_reason")
    op.drop_column("notifications", "expanded_at")
