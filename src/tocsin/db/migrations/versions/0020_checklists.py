"""Checklists: the items of the policy's lists attached to each incident, with who
ticked or skipped them and when.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checklist_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("checklist", sa.String(100), nullable=False),
        sa.Column("heading", sa.String(200), nullable=False),
        sa.Column("role", sa.String(50), nullable=True),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("done_when", sa.String(50), nullable=True),
        sa.Column("attached_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("settled_by", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("incident_id", "number"),
        sa.UniqueConstraint("incident_id", "checklist", "scope", "position"),
        sa.CheckConstraint("state IN ('open', 'done', 'skipped')", name="state"),
    )
    op.create_index("ix_checklist_items_incident_id", "checklist_items", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_checklist_items_incident_id", table_name="checklist_items")
    op.drop_table("checklist_items")
