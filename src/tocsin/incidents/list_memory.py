"""What the incident list learned about a filter, kept until an incident changes: how
many incidents match it, and where its pages begin.

Both cost a walk through the matches. Counting them took more than half of an incident
list request at 100,000 incidents (SQLite 17 ms for a status and service filter,
PostgreSQL 34 ms), and a page at offset 20,000 walks the 20,000 matches before it
(PostgreSQL 23 ms), while the page itself is 50 rows. Yet both answers only change when
an incident is opened or deleted, or its status, severity or services change.

So a server process keeps them (:class:`ListMemory`):

- the *count* of each filter's matches;
- where a page at an offset begins: the incident number the page before it ended at.
  A page at an offset already served, or right after one (an offset walk), is then read
  as a cursor reads it, from that number through the index, however deep.

What a transaction learned is kept under its *era*, and used only by transactions of
the same era. The era moves on with every such change:

- in this process: the flush that writes it raises :data:`INCIDENTS_CHANGED`, which
  moves the process's *generation* on as the transaction commits;
- on PostgreSQL, in another process: the same signal arrives by LISTEN/NOTIFY
  (:mod:`tocsin.db.wakeups`) within milliseconds of that commit (a listener that lost
  its connection moves every generation on once it is back);
- on SQLite, in any process: the era also holds the last entry of the incident change
  log (:mod:`tocsin.metrics.models`), which triggers write in the changing transaction
  itself; read in the reader's own snapshot, it is exact.

A transaction's era is the generation it began in, so nothing learned from a snapshot
older than a change is used after it. :data:`MAX_AGE` bounds anything else (a change
written by hand, bypassing both).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapper, Session, SessionTransaction, object_session
from sqlalchemy.orm.attributes import get_history

from tocsin.db.signals import CommitSignal
from tocsin.incidents.models import Incident, IncidentService

__all__ = ["INCIDENTS_CHANGED", "MAX_AGE", "ListMemory", "memory"]

#: Raised by a transaction that opened, deleted or re-filed an incident.
INCIDENTS_CHANGED = CommitSignal("incidents_changed")
#: Seconds anything learned may be used: the bound on changes neither the signal nor the
#: log reports.
MAX_AGE = 60.0
#: Counts and page starts kept, the least recently used dropped first.
MOST_KEPT = 2_048
#: The columns the lists filter on: a change to another (a title, a timestamp) leaves
#: every count as it was.
_FILTERED = ("status", "severity", "drill")
#: Where a session keeps the generation its transaction began in.
_BEGAN = "tocsin_list_memory:began"
#: Set by the flush that writes such a change.
_CHANGING = "tocsin_list_memory:changing"
#: The incident change log's last entry (SQLite).
_LOGGED = text("SELECT max(seq) FROM incident_changes")
#: A transaction's era: the generation it began in, and the log's last entry it sees.
Era = tuple[int, int | None]
#: The era of a transaction with changes of its own: no generation is ever -1.
_ITS_OWN: Era = (-1, None)


class ListMemory:
    """One per process; thread-safe. A filter is a hashable key (its conditions and
    their values). Each count is made by one thread at a time: the requests asking for
    the same count meanwhile wait for it rather than count too."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, tuple[Era, float, int]] = OrderedDict()
        self._making: dict[Hashable, threading.Lock] = {}
        self.generation = 0

    def set(self) -> None:
        """A change committed (the signal's subscriber): everything kept is stale."""
        with self._lock:
            self.generation += 1
            self._kept.clear()

    def era(self, session: Session) -> Era:
        """The era of ``session``'s transaction (read once per list request: on SQLite
        it costs a statement). A transaction that changed incidents itself sees what no
        other does until it commits: it neither uses nor keeps anything."""
        if INCIDENTS_CHANGED.raised_in(session):
            return _ITS_OWN
        logged = None
        if session.get_bind().dialect.name == "sqlite":
            logged = session.connection().execute(_LOGGED).scalar()
        return session.info.get(_BEGAN, -1), logged

    def count(self, session: Session, era: Era, key: Hashable, make: Callable[[], int]) -> int:
        """How many incidents match the filter ``key``: ``make()`` unless it is kept."""
        kept = (_database(session), "count", key)
        found = self._get(kept, era)
        if found is not None:
            return found
        with self._lock:
            making = self._making.setdefault(kept, threading.Lock())
        with making:
            found = self._get(kept, era)
            if found is None:
                found = make()
                self._put(kept, era, found)
            with self._lock:
                self._making.pop(kept, None)
            return found

    def page_start(self, session: Session, era: Era, key: Hashable, offset: int) -> int | None:
        """The page of ``key`` at ``offset`` holds the incidents numbered below this, if
        it is known."""
        return self._get((_database(session), "start", key, offset), era)

    def learn_page(
        self, session: Session, era: Era, key: Hashable, offset: int, numbers: list[int]
    ) -> None:
        """A page of ``key`` at ``offset`` held the incidents ``numbers`` (newest
        first): where it starts, and where the page after it starts."""
        if not numbers:
            return
        database = _database(session)
        self._put((database, "start", key, offset), era, numbers[0] + 1)
        self._put((database, "start", key, offset + len(numbers)), era, numbers[-1])

    def _get(self, kept: Hashable, era: Era) -> int | None:
        with self._lock:
            found = self._kept.get(kept)
            if found is None:
                return None
            learned_in, until, value = found
            if learned_in != era or era[0] != self.generation or self._clock() >= until:
                return None
            self._kept.move_to_end(kept)
            return value

    def _put(self, kept: Hashable, era: Era, value: int) -> None:
        with self._lock:
            if era[0] != self.generation:
                return  # learned from a snapshot older than a change
            self._kept[kept] = (era, self._clock() + MAX_AGE, value)
            self._kept.move_to_end(kept)
            while len(self._kept) > MOST_KEPT:
                self._kept.popitem(last=False)


#: A number for each database engine, never reused: a process (a test run) may hold
#: several databases, and what is kept belongs to one.
_databases: WeakKeyDictionary[Engine, int] = WeakKeyDictionary()
_numbers = itertools.count()


def _database(session: Session) -> int:
    engine = session.get_bind()
    engine = engine if isinstance(engine, Engine) else engine.engine
    number = _databases.get(engine)
    if number is None:
        number = _databases.setdefault(engine, next(_numbers))
    return number


#: This process's memory of its lists.
memory = ListMemory()
INCIDENTS_CHANGED.subscribe(memory)


@event.listens_for(Session, "after_begin")
def _note_generation(session: Session, _transaction: SessionTransaction, _c: Connection) -> None:
    session.info[_BEGAN] = memory.generation


def _changed(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_CHANGING] = True


def _incident_updated(mapper: Mapper[Any], connection: Connection, target: Incident) -> None:
    if any(get_history(target, name).has_changes() for name in _FILTERED):
        _changed(mapper, connection, target)


@event.listens_for(Session, "after_flush_postexec")
def _raise_after_flush(session: Session, _context: Any) -> None:
    """The signal is raised once the flush is done (raising it may send a statement,
    which the flush's own hooks must not)."""
    if session.info.pop(_CHANGING, False):
        INCIDENTS_CHANGED.raise_in(session)


for _mapped, _kind, _listener in (
    (Incident, "after_insert", _changed),
    (Incident, "after_delete", _changed),
    (Incident, "after_update", _incident_updated),
    (IncidentService, "after_insert", _changed),
    (IncidentService, "after_update", _changed),
    (IncidentService, "after_delete", _changed),
):
    event.listen(_mapped, _kind, _listener)
