"""The incident change log the metrics summary's in-memory table follows; on SQLite,
the triggers that write it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Entries kept: a server process further behind than this reads everything again.
KEEP = 100_000

#: The columns of ``incidents`` the metrics read (tocsin.metrics.service.load_columns).
_COLUMNS = (
    "number, title, severity, severity_rank, tags, started_at, detected_at, "
    "acknowledged_at, mitigated_at, resolved_at"
)
_ESCALATION_KINDS = "('escalated', 'paged')"


def _log(incident: str) -> str:
    return (
        f"INSERT INTO incident_changes (incident_id) VALUES ({incident}); "
        f"DELETE FROM incident_changes WHERE seq <= last_insert_rowid() - {KEEP};"
    )


#: name -> (event, table, WHEN condition or "", the incident id expressions logged)
_TRIGGERS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "incident_changes_incident_insert": ("INSERT", "incidents", "", ("new.id",)),
    "incident_changes_incident_update": (
        f"UPDATE OF {_COLUMNS}",
        "incidents",
        "",
        ("new.id",),
    ),
    "incident_changes_incident_delete": ("DELETE", "incidents", "", ("old.id",)),
    "incident_changes_service_insert": ("INSERT", "incident_services", "", ("new.incident_id",)),
    "incident_changes_service_update": (
        "UPDATE",
        "incident_services",
        "",
        ("old.incident_id", "new.incident_id"),
    ),
    "incident_changes_service_delete": ("DELETE", "incident_services", "", ("old.incident_id",)),
    "incident_changes_event_insert": (
        "INSERT",
        "timeline_events",
        f"new.kind IN {_ESCALATION_KINDS}",
        ("new.incident_id",),
    ),
    "incident_changes_event_update": (
        "UPDATE",
        "timeline_events",
        f"old.kind IN {_ESCALATION_KINDS} OR new.kind IN {_ESCALATION_KINDS}",
        ("old.incident_id", "new.incident_id"),
    ),
    "incident_changes_event_delete": (
        "DELETE",
        "timeline_events",
        f"old.kind IN {_ESCALATION_KINDS}",
        ("old.incident_id",),
    ),
}


def upgrade() -> None:
    op.create_table(
        "incident_changes",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, (event, table, condition, incidents) in _TRIGGERS.items():
        when = f" WHEN {condition}" if condition else ""
        body = " ".join(_log(incident) for incident in incidents)
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table}{when} BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("incident_changes")
