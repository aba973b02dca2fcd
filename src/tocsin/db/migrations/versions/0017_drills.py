"""Drills: an incident declared as a rehearsal, and who it pages.

A drill is set when the incident is declared and never changes. Incidents that carried
the ``drill`` tag (the former way to mark a rehearsal) become drills, so the metrics
that left them out keep doing so.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "incidents",
        sa.Column("drill_pages_oncall", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("incidents", sa.Column("drill_responders", JSON, nullable=True))
    # Alerts a game day injected: they correlate only with each other.
    op.add_column(
        "alerts", sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    incidents = sa.table("incidents", sa.column("drill", sa.Boolean()), sa.column("tags"))
    op.execute(
        incidents.update()
        .where(sa.cast(incidents.c.tags, sa.String()).like('%"drill"%'))
        .values(drill=True)
    )


def downgrade() -> None:
    op.drop_column("alerts", "drill")
    op.drop_column("incidents", "drill_responders")
    op.drop_column("incidents", "drill_pages_oncall")
    op.drop_column("incidents", "drill")
