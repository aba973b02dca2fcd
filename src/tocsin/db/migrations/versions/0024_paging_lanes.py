"""Lanes: the incident a timer, a message or a send is for, so that one flood of
incidents cannot make another incident's pages wait.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("incidents", "jobs", "notifications", "deliveries")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("lane", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_column(table, "lane")
