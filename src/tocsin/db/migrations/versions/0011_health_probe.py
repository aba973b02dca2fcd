"""The row ``/readyz`` rewrites to prove that the database takes writes
(tocsin.db.probe).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("headroom", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_probe")),
    )
    # Naive on SQLite (as tocsin.db.base.UTCDateTime stores it), aware on PostgreSQL.
    at = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        at = at.replace(tzinfo=None)
    op.bulk_insert(table, [{"id": 1, "probed_at": at, "headroom": None}])


def downgrade() -> None:
    op.drop_table("health_probe")
