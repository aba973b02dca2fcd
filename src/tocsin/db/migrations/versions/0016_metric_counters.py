"""Prometheus counters and histograms, kept per series and added to in the
transaction of the event they count (tocsin.metrics.stored_counters).

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_counters",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("labels", sa.String(1000), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels", "shard", name=op.f("pk_metric_counters")),
    )


def downgrade() -> None:
    op.drop_table("metric_counters")
