"""Opsgenie integrations: an integration of kind ``opsgenie`` takes Opsgenie's Alert
API (``Authorization: GenieKey <key>``).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'alertmanager', 'grafana', 'pagerduty', 'opsgenie', 'generic', 'heartbeat', 'changes'"
_OLD_KINDS = "'alertmanager', 'grafana', 'pagerduty', 'generic', 'heartbeat', 'changes'"


def _kinds(kinds: str) -> None:
    with op.batch_alter_table("integrations", recreate="auto") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", f"kind IN ({kinds})")


def upgrade() -> None:
    _kinds(_KINDS)


def downgrade() -> None:
    op.execute("UPDATE integrations SET disabled_at = CURRENT_TIMESTAMP WHERE kind = 'opsgenie'")
    op.execute("UPDATE integrations SET kind = 'generic' WHERE kind = 'opsgenie'")
    _kinds(_OLD_KINDS)
