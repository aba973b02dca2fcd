"""Status-page incidents about several internal incidents.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_incident_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "status_incident_id",
            sa.Integer(),
            sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_status_incident_links_status_incident_id",
        "status_incident_links",
        ["status_incident_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_status_incident_links_status_incident_id", "status_incident_links")
    op.drop_table("status_incident_links")
