"""A server's in-memory table of incident facts, kept current from the change log.

Reading a year of 100,000 incidents costs SQLite about half a second — most of the
metrics summary. A server process keeps what it read (:class:`IncidentColumns`, a few
megabytes per 100,000 incidents) and, on the next request, asks the change log
(:mod:`tocsin.metrics.models`) which incidents changed since the last entry it saw,
re-reading just those. The log is read in the request's own transaction, so the
columns always match the snapshot the request sees, whatever other processes wrote.

Only on SQLite, where triggers write the log: elsewhere :meth:`IncidentTableCache.table`
reads everything each time (as :func:`tocsin.metrics.service.load_table`). The columns
cover incidents detected since the earliest ``since`` asked for; a request reaching
further back reads everything again, and so does one after more than
:data:`MAX_PATCH` changed incidents or after the log was pruned past the last entry seen
(the triggers keep its newest 100,000 entries).
"""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.metrics.loader import IncidentColumns, fetch_columns, in_range, read_table
from tocsin.metrics.table import IncidentTable

__all__ = ["MAX_PATCH", "IncidentTableCache"]

#: More changed incidents than this: reading everything again is as cheap.
MAX_PATCH = 5_000

_LOG_BOUNDS = "SELECT min(seq), max(seq) FROM incident_changes"
_CHANGED_SINCE = "SELECT DISTINCT incident_id FROM incident_changes WHERE seq > ?"


class IncidentTableCache:
    """One per server process; thread-safe (requests refresh it one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._columns: IncidentColumns | None = None
        self._horizon: datetime | None = None
        self._seen = 0
        #: How the last call was answered: "read", "patched" or "kept" (for tests).
        self.last_refresh = ""

    def table(self, *, session: Session, since: datetime, until: datetime) -> IncidentTable:
        """The incidents detected in [since, until), drills included (flagged)."""
        if session.get_bind().dialect.name != "sqlite":
            self.last_refresh = "read"
            return read_table(session=session, since=since, until=until)
        with self._lock:
            columns = self._current(session=session, since=since)
        rows = (columns.detected >= since.timestamp()) & (columns.detected < until.timestamp())
        if not bool(rows.all()):
            columns = columns.take(np.flatnonzero(rows))
        return columns.table()

    def _current(self, *, session: Session, since: datetime) -> IncidentColumns:
        connection = session.connection()
        lowest, highest = connection.exec_driver_sql(_LOG_BOUNDS).one()
        highest = highest or 0
        columns, horizon = self._columns, self._horizon
        stale = (
            columns is None
            or horizon is None
            or since < horizon
            # Entries after the last one seen were pruned, or the log was emptied.
            or (lowest is not None and lowest > self._seen + 1)
            or highest < self._seen
        )
        if not stale and highest == self._seen:
            self.last_refresh = "kept"
            return columns  # type: ignore[return-value]
        changed: list[int] = []
        if not stale:
            changed = [row[0] for row in connection.exec_driver_sql(_CHANGED_SINCE, (self._seen,))]
        if stale or len(changed) > MAX_PATCH:
            horizon = since if horizon is None else min(since, horizon)
            columns = fetch_columns(
                session=session, where=in_range(horizon), escalated_since=horizon
            )
            self.last_refresh = "read"
        else:
            assert columns is not None and horizon is not None
            fresh = fetch_columns(
                session=session,
                where=in_range(horizon) & Incident.id.in_(changed),
                escalated_since=horizon,
                incident_ids=changed,
            )
            columns = columns.replaced(changed, fresh)
            self.last_refresh = "patched"
        self._columns, self._horizon, self._seen = columns, horizon, highest
        return columns
