"""Root-cause hints, downstream links between incidents, and the kind of a change.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.db.base import JSONValue, UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KINDS = "'alertmanager', 'grafana', 'pagerduty', 'generic', 'heartbeat'"


def _integration_kinds(kinds: str) -> None:
    with op.batch_alter_table("integrations", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_integrations_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_integrations_kind"), f"kind IN ({kinds})")


def upgrade() -> None:
    op.add_column("changes", sa.Column("kind", sa.String(20), nullable=True))
    # Integrations of kind ``changes`` take changes only (no alerts).
    _integration_kinds(_KINDS + ", 'changes'")
    op.create_table(
        "incident_hints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("explanation", sa.String(500), nullable=False),
        sa.Column("evidence", JSONValue, nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("top_when_decided", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "key"),
    )
    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "downstream_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "upstream_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("downstream_id", "upstream_id"),
    )
    op.create_index("ix_incident_links_upstream", "incident_links", ["upstream_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_links_upstream", table_name="incident_links")
    op.drop_table("incident_links")
    op.drop_table("incident_hints")
    op.execute("DELETE FROM integrations WHERE kind = 'changes'")
    _integration_kinds(_KINDS)
    op.drop_column("changes", "kind")
