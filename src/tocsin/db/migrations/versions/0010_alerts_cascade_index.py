"""The firing-alerts index also holds outcome and service, so counting the firing
alerts of a window per service (the cascade check on every new alert) reads the index
alone, not every alert's row and payload.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_alerts_status_fired", table_name="alerts")
    op.create_index(
        "ix_alerts_status_fired", "alerts", ["status", "fired_at", "outcome", "service"]
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_status_fired", table_name="alerts")
    op.create_index("ix_alerts_status_fired", "alerts", ["status", "fired_at"])
