"""Post-mortems and their action items.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tocsin.db.base import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False, unique=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(100), index=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("customer_impact", sa.Boolean(), nullable=False),
        sa.Column("sections", JSON, nullable=False),
        sa.Column("root_cause_category", sa.String(20)),
        sa.Column("root_cause_subcategory", sa.String(100)),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("draft_due_at", UTCDateTime()),
        sa.Column("review_due_at", UTCDateTime()),
        sa.Column("publish_due_at", UTCDateTime()),
        sa.Column("drafted_at", UTCDateTime()),
        sa.Column("overdue_since", UTCDateTime()),
        sa.Column("submitted_at", UTCDateTime()),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint("status IN ('draft', 'in_review', 'published')", name="status"),
        sa.CheckConstraint(
            "root_cause_category IS NULL OR root_cause_category IN "
            "('technical', 'process', 'human', 'external')",
            name="root_cause_category",
        ),
    )
    op.create_index(
        "ix_postmortems_status_publish_due", "postmortems", ["status", "publish_due_at"]
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "postmortem_id",
            sa.Integer(),
            sa.ForeignKey("postmortems.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(100), index=True),
        sa.Column("due_date", sa.Date()),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("link", sa.String(2000)),
        sa.Column("rule", sa.String(50)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("completed_at", UTCDateTime()),
        sa.UniqueConstraint("postmortem_id", "rule"),
        sa.CheckConstraint("priority IN ('p1', 'p2', 'p3', 'p4')", name="priority"),
        sa.CheckConstraint(
            "status IN ('suggested', 'open', 'in_progress', 'done', 'dropped')", name="status"
        ),
    )
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due_date"])


def downgrade() -> None:
    op.drop_table("action_items")
    op.drop_table("postmortems")
