"""The two statements of the dedup hot path, sent to the driver directly.

Most alerts a busy monitoring system sends are repeats of alerts that already fire,
and for those the pipeline only needs to read a few columns and bump a counter. On
the project's 2-core machine SQLAlchemy spends about 100 µs building and running any
statement and about 20 µs per row of an ``executemany``, several times what SQLite
itself needs; the issue's benchmark wants thousands of alerts per second. So these two
statements are plain SQL for each dialect, run with ``exec_driver_sql``; values go
through the columns' own bind processors (obtained from the session's dialect), so
what is stored is exactly what the ORM would store and read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm import Session

from tocsin.db.base import UTCDateTime

__all__ = ["Known", "Repeat", "load_known", "write_repeats"]

#: Keys per SELECT on SQLite (old builds allow only 999 variables per statement).
_CHUNK = 500

_COLUMNS = "a.dedup_key, a.id, a.status, a.outcome, a.incident_id, a.heartbeat_id, i.number "
# Arrays go in binary (``%(…)b``): in text, the driver escapes every string of an array
# with a regular expression, a fifth of a repeat's cost on PostgreSQL. Each key is looked
# up by itself (LATERAL, both columns of the unique key): the driver prepares a statement
# run often, and the generic plan of ``dedup_key = ANY(keys)`` read every alert of the
# integration and filtered them (1.6 ms for 100 keys among 1,000 alerts, growing with
# them, against 0.7).
_SELECT_PG = (
    f"SELECT {_COLUMNS}FROM unnest(%(keys)b::text[]) AS k(key) "
    "JOIN LATERAL (SELECT id, dedup_key, status, outcome, incident_id, heartbeat_id "
    "FROM alerts WHERE alerts.integration_id = %(iid)s "
    "AND alerts.dedup_key = k.key) AS a ON true "
    "LEFT JOIN incidents i ON i.id = a.incident_id"
)
_SELECT_SQLITE = (
    f"SELECT {_COLUMNS}FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id "
    "WHERE a.integration_id = ? AND a.dedup_key IN "
)
#: One statement for the whole batch: a round trip per row would cost more than the rows.
_UPDATE_PG = (
    "UPDATE alerts AS a SET occurrences = a.occurrences + v.n, last_seen_at = %(seen)s, "
    "labels = v.labels, annotations = v.annotations "
    "FROM unnest(%(ids)b::integer[], %(ns)b::integer[], %(labels)b::jsonb[], "
    "%(annotations)b::jsonb[]) AS v(id, n, labels, annotations) WHERE a.id = v.id"
)
_UPDATE_SQLITE = (
    "UPDATE alerts SET occurrences = occurrences + ?, last_seen_at = ?, "
    "labels = ?, annotations = ? WHERE id = ?"
)


class Known(NamedTuple):
    """A stored alert as the hot path sees it (``number``: its incident's INC number)."""

    id: int
    status: str
    outcome: str
    incident_id: int | None
    heartbeat_id: int | None
    number: int | None


class Repeat(NamedTuple):
    """A counted repeat; its maps are cleaned and may be shared with the event."""

    alert_id: int
    times: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def load_known(session: Session, *, integration_id: int, keys: Iterable[str]) -> dict[str, Known]:
    """The stored alerts of ``integration_id`` with these dedup keys, by key."""
    wanted = list(keys)
    if not wanted:
        return {}
    connection = session.connection()
    rows: list[Sequence[Any]] = []
    if connection.dialect.name == "postgresql":
        rows = list(connection.exec_driver_sql(_SELECT_PG, {"iid": integration_id, "keys": wanted}))
    else:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            sql = _SELECT_SQLITE + "(" + ",".join("?" * len(chunk)) + ")"
            rows.extend(connection.exec_driver_sql(sql, (integration_id, *chunk)).fetchall())
    return {row[0]: Known(*row[1:]) for row in rows}


def write_repeats(session: Session, *, repeats: Sequence[Repeat], seen: datetime) -> None:
    """Count the repeats: occurrences += n, last_seen_at, the latest labels and annotations."""
    if not repeats:
        return
    connection = session.connection()
    dialect = connection.dialect
    time_processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    stamp: Any = time_processor(seen) if time_processor is not None else seen
    if dialect.name == "postgresql":
        connection.exec_driver_sql(
            _UPDATE_PG,
            {
                "seen": stamp,
                "ids": [r.alert_id for r in repeats],
                "ns": [r.times for r in repeats],
                "labels": [_json(r.labels) for r in repeats],
                "annotations": [_json(r.annotations) for r in repeats],
            },
        )
    else:
        connection.exec_driver_sql(
            _UPDATE_SQLITE,
            [(r.times, stamp, _json(r.labels), _json(r.annotations), r.alert_id) for r in repeats],
        )


def _json(mapping: Mapping[str, str]) -> str:
    """A label map as JSON text (the maps are cleaned, so orjson takes every one; the
    column's own processor is the standard library's, several times slower)."""
    return orjson.dumps(mapping).decode()
