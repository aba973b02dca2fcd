"""Alert storms (what a storm incident is made of), the inbox of large webhook bodies
decided a chunk at a time, and an index for counting one service's firing alerts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import JSONValue, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_storms",
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("alertnames", JSONValue, nullable=False),
        sa.Column("label_values", JSONValue, nullable=False),
        sa.Column("merged", JSONValue, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("noted_at", UTCDateTime(), nullable=False),
        sa.Column("noted_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "alert_inbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "integration_id",
            sa.Integer(),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("body", JSONValue, nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_alert_inbox_open", "alert_inbox", ["finished_at", "id"])
    # The cascade check counts one service's firing alerts of a window, a few at most:
    # without this, a service with none scanned every firing alert of the window.
    op.create_index(
        "ix_alerts_service_status_fired", "alerts", ["service", "status", "fired_at", "outcome"]
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_service_status_fired", table_name="alerts")
    op.drop_index("ix_alert_inbox_open", table_name="alert_inbox")
    op.drop_table("alert_inbox")
    op.drop_table("alert_storms")
