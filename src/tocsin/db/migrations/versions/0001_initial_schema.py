"""Initial schema: API tokens, counters, incidents, roles, services, timeline, updates.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tocsin.db.base import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _incident_fk() -> sa.Column[int]:
    return sa.Column(
        "incident_id",
        sa.Integer(),
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("person", sa.String(100)),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.bulk_insert(counters, [{"name": "incident", "value": 0}])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False, unique=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("severity", sa.String(50), nullable=False, index=True),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("mitigated_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "incident_roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        _incident_fk(),
        sa.Column("role", sa.String(50), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("incident_id", "role", "person"),
    )
    op.create_table(
        "incident_services",
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("service", sa.String(100), primary_key=True, index=True),
    )
    op.create_table(
        "status_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        _incident_fk(),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_status_updates_incident", "status_updates", ["incident_id", "id"])
    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        _incident_fk(),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
    )
    op.create_index(
        "ix_timeline_events_incident_at", "timeline_events", ["incident_id", "at", "id"]
    )


def downgrade() -> None:
    for table in (
        "timeline_events",
        "status_updates",
        "incident_services",
        "incident_roles",
        "incidents",
        "counters",
        "api_tokens",
    ):
        op.drop_table(table)
