"""Changes to services (deploys, configuration updates: PagerDuty change events), and
when a PagerDuty acknowledge covered an alert.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import JSONValue, UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("integration", sa.String(100), nullable=True),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("links", JSONValue, nullable=False),
        sa.Column("custom_details", JSONValue, nullable=True),
    )
    op.create_index("ix_changes_timestamp", "changes", ["timestamp", "id"])
    op.create_index("ix_changes_service_timestamp", "changes", ["service", "timestamp", "id"])
    op.add_column("alerts", sa.Column("acknowledged_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "acknowledged_at")
    op.drop_index("ix_changes_service_timestamp", table_name="changes")
    op.drop_index("ix_changes_timestamp", table_name="changes")
    op.drop_table("changes")
