"""Alerts: integrations (inbound keys), alerts, their links to incidents, silences and
heartbeats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tocsin.db.base import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime()),
        sa.Column("disabled_at", UTCDateTime()),
        sa.CheckConstraint(
            "kind IN ('alertmanager', 'grafana', 'pagerduty', 'generic', 'heartbeat')",
            name="kind",
        ),
    )
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "integration_id",
            sa.Integer(),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("service", sa.String(100)),
        sa.Column("severity", sa.String(50), nullable=False),
        sa.Column("escalation_policy", sa.String(100)),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("last_ping_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("missed_at", UTCDateTime()),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="SET NULL")),
        sa.UniqueConstraint("integration_id", "name"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "integration_id",
            sa.Integer(),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("service", sa.String(100)),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(50), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("links", JSON, nullable=False),
        sa.Column("source_url", sa.Text()),
        sa.Column("starts_at", UTCDateTime()),
        sa.Column("ends_at", UTCDateTime()),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("transitions", JSON, nullable=False),
        sa.Column("silenced_by", sa.String(200)),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("route_path", sa.String(500), nullable=False),
        sa.Column("other_routes", JSON, nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("raw", JSON),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="SET NULL")),
        sa.Column(
            "heartbeat_id", sa.Integer(), sa.ForeignKey("heartbeats.id", ondelete="SET NULL")
        ),
        sa.UniqueConstraint("integration_id", "dedup_key"),
        sa.CheckConstraint("status IN ('firing', 'resolved')", name="status"),
    )
    op.create_index("ix_alerts_status_fired", "alerts", ["status", "fired_at"])
    op.create_index("ix_alerts_service_fired", "alerts", ["service", "fired_at"])
    op.create_index("ix_alerts_route_fired", "alerts", ["route_path", "fired_at"])
    op.create_index("ix_alerts_fired", "alerts", ["fired_at"])
    op.create_table(
        "alert_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "alert_id", sa.Integer(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("group_hash", sa.String(32), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "alert_id"),
    )
    op.create_index("ix_alert_links_group", "alert_links", ["group_hash", "linked_at"])
    op.create_index("ix_alert_links_alert", "alert_links", ["alert_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expired_at", UTCDateTime()),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    for table in ("silences", "alert_links", "alerts", "heartbeats", "integrations"):
        op.drop_table(table)
