"""Room on PostgreSQL's pages for the rows that change all the time.

A firing alert's row is rewritten at every repeat (its count, when it was last seen,
its latest labels), a storm's at every alert it takes in, a job's and a delivery's as
they are claimed and done. PostgreSQL writes each change as a new version of the row;
when the new version fits on the same page and no indexed column changed, it is a
"heap-only" update, which touches none of the table's indexes. Alert rows are wide
(about a kilobyte), so packed pages had no room: in a flood of repeats, seven in ten
or more wrote a new entry into each of the seven alert indexes, and counting 100
repeats took 7 ms instead of 1.5. Pages filled to half (to seven tenths for jobs,
deliveries and the like) keep the new version beside the old: 95 % of the repeats
are heap-only then. SQLite has no such setting: nothing to do there.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Percent of each page that new rows may fill, by table.
FILL = {
    "alerts": 50,
    "alert_storms": 50,
    "alert_inbox": 70,
    "incidents": 70,
    "incident_escalations": 70,
    "jobs": 70,
    "notifications": 70,
    "deliveries": 70,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, percent in FILL.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FILL:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
