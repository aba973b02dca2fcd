"""Status page: public incidents and their updates, scheduled maintenance (with updates)
and email subscribers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tocsin.db.base import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

STATES = "status IN ('investigating', 'identified', 'monitoring', 'resolved')"
MAINTENANCE = "status IN ('scheduled', 'in_progress', 'verifying', 'completed')"


def upgrade() -> None:
    op.create_table(
        "status_incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="SET NULL"),
            unique=True,
        ),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("impact", sa.String(20), nullable=False),
        sa.Column("components", JSON, nullable=False),
        sa.Column("component_history", JSON, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("monitoring_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint(STATES, name="status"),
        sa.CheckConstraint("impact IN ('none', 'minor', 'major', 'critical')", name="impact"),
    )
    op.create_index("ix_status_incidents_created_at", "status_incidents", ["created_at"])
    op.create_index(
        "ix_status_incidents_published_resolved",
        "status_incidents",
        ["published_at", "resolved_at"],
    )
    op.create_table(
        "status_incident_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "status_incident_id",
            sa.Integer(),
            sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("affected_components", JSON, nullable=False),
        sa.Column("deliver_notifications", sa.Boolean(), nullable=False),
        sa.Column(
            "source_update_id",
            sa.Integer(),
            sa.ForeignKey("status_updates.id", ondelete="SET NULL"),
            unique=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("display_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint(STATES, name="status"),
    )
    op.create_index(
        "ix_status_incident_updates_incident",
        "status_incident_updates",
        ["status_incident_id", "id"],
    )
    op.create_table(
        "scheduled_maintenances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("components", JSON, nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=False),
        sa.Column("scheduled_until", UTCDateTime(), nullable=False),
        sa.Column("auto_transition", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint(MAINTENANCE, name="status"),
    )
    op.create_index(
        "ix_scheduled_maintenances_window",
        "scheduled_maintenances",
        ["scheduled_for", "scheduled_until"],
    )
    op.create_table(
        "scheduled_maintenance_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "maintenance_id",
            sa.Integer(),
            sa.ForeignKey("scheduled_maintenances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint(MAINTENANCE, name="status"),
    )
    op.create_index(
        "ix_scheduled_maintenance_updates_maintenance",
        "scheduled_maintenance_updates",
        ["maintenance_id", "id"],
    )
    op.create_table(
        "status_subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("confirm_token", sa.String(64), unique=True),
        sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirm_sent_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("status_subscribers")
    op.drop_table("scheduled_maintenance_updates")
    op.drop_table("scheduled_maintenances")
    op.drop_table("status_incident_updates")
    op.drop_table("status_incidents")
