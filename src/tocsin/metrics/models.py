"""The incident change log: which incidents changed, in commit order.

The metrics summary keeps a year of incident facts in memory per server process
(:mod:`tocsin.metrics.cache`) and, on each request, re-reads only the incidents this log
names after the last entry it has seen; the incident list keeps its counts until the
log moves (:mod:`tocsin.incidents.list_memory`). On SQLite the log is written by triggers
(migrations 0009 and 0026) in the same transaction as the change itself, so no code path can
forget it, and SQLite's single writer makes ``seq`` follow commit order: a reader that
sees entry ``n`` sees every entry before it. PostgreSQL has no such triggers (its
sequence values are not handed out in commit order); there the summary reads from the
database every time and this table stays empty.
"""

from __future__ import annotations

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base

__all__ = ["IncidentChange"]


class IncidentChange(Base):
    __tablename__ = "incident_changes"
    #: Never hand out a number twice, even after the log was emptied.
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(Integer)
