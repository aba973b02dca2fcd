"""Prometheus counters and histograms, kept per series and added to in the
transaction of the event they count (tocsin.metrics.stored_counters), and partial
indexes of what is live (open incidents, messages and deliveries not sent yet) for
the gauges.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
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
    # The conditions are written out as the queries write them (SQLite matches them
    # literally): tocsin.incidents.models.OPEN_INCIDENT_SQL, tocsin.notify.models.UNSENT_SQL.
    for name, table, columns, where in _PARTIAL_INDEXES:
        op.create_index(
            name,
            table,
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, table, _columns, _where in reversed(_PARTIAL_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("metric_counters")


_OPEN = "status IN ('triggered', 'acknowledged', 'investigating', 'identified', 'monitoring')"
_UNSENT = "state IN ('pending', 'sending')"
_PARTIAL_INDEXES = (
    ("ix_incidents_open_severity", "incidents", ["severity"], _OPEN),
    ("ix_notifications_unsent_channel", "notifications", ["channel"], _UNSENT),
    ("ix_deliveries_unsent_channel_state", "deliveries", ["channel", "state"], _UNSENT),
)
