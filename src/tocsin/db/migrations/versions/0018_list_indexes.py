"""Indexes for the incident list's filters, in the list's order (newest first): by
status, by severity, and the incidents of a service. A filtered page, and the page
after a cursor, then read only the rows they show.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incidents_status_number", "incidents", ["status", "number"])
    op.create_index("ix_incidents_severity_number", "incidents", ["severity", "number"])
    op.create_index(
        "ix_incident_services_service_incident", "incident_services", ["service", "incident_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_incident_services_service_incident", table_name="incident_services")
    op.drop_index("ix_incidents_severity_number", table_name="incidents")
    op.drop_index("ix_incidents_status_number", table_name="incidents")
