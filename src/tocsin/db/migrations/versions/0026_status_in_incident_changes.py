"""The incident change log also follows status and drill changes (on SQLite, where
triggers write it): the incident list keeps its counts and page starts until the log
moves, and a status change moves what the list's filters match.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "incident_changes_incident_update"
#: As revision 0009 logged them, then with the columns the incident list filters on.
_BEFORE = (
    "number, title, severity, severity_rank, tags, started_at, detected_at, "
    "acknowledged_at, mitigated_at, resolved_at"
)
_AFTER = f"{_BEFORE}, status, drill"
#: Entries kept, as in revision 0009.
KEEP = 100_000


def _create(columns: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {_NAME}")
    op.execute(
        f"CREATE TRIGGER {_NAME} AFTER UPDATE OF {columns} ON incidents BEGIN "
        "INSERT INTO incident_changes (incident_id) VALUES (new.id); "
        f"DELETE FROM incident_changes WHERE seq <= last_insert_rowid() - {KEEP}; END"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _create(_AFTER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _create(_BEFORE)
