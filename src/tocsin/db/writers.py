"""One SQLite writer at a time, across threads and processes, handed over at once —
and people and the engine before bulk ingestion.

SQLite lets one transaction write at a time; another ``BEGIN IMMEDIATE`` waits in
SQLite's busy handler, which sleeps and retries (1, 2, 5, ... 100 ms), so between busy
writers — the group commit of alerts, the engine worker, the delivery worker, other
server processes on the same file (``tocsin serve --workers N``) — the database sits
idle much of the time. Write transactions therefore first take this lock: a thread
lock within the process, then ``flock`` on a file beside the database, for
which the kernel wakes the next waiter the moment the holder lets go.

Writers come in three kinds. *Bulk* writers (the ingestion of alerts, whose transactions
are kept short) step aside for *priority* writers (everything else): for every one
already waiting when the bulk writer arrived, and for those arriving within
:data:`BULK_PATIENCE` after it, so that a page in the making waits for at most one bulk
transaction per round of writers however busy ingestion is; and among those,
*background* writers (the engine's timers and the delivery worker, which can have
thousands of transactions queued on the worst day) step aside for the *foreground* ones
(a person's action through the API, the dashboard, the CLI or chat-ops, and the few
alerts of a quiet service), but for at most :data:`BACKGROUND_PATIENCE`; then the next
turn is theirs. Without that bound a steady stream of foreground writers (people and probe
alerts, in a server that can no longer keep up) held every page back for as long as it
lasted. Within a process a writer does not take the lock while one of a higher kind
waits for it (and is not overdue); across processes a priority writer holds a shared
``flock`` on a second file (``.writer-gate``) while it waits, and a bulk writer must get
that file exclusively before it queues for the main lock. A priority writer therefore
waits for at most the one bulk transaction that holds the lock when it arrives. Bulk
work is never starved, though: once the writers that were waiting before it have had
their turn and it has stepped aside for :data:`BULK_PATIENCE` seconds, a bulk writer
takes the next turn (writers arriving later wait for it), so that a flood of deliveries
cannot stop alerts from being stored.

The lock only orders writers; SQLite's own locking still guarantees correctness, so a
writer that cannot get the thread lock within :data:`WAIT_SECONDS` (or cannot open the
lock file) goes ahead and lets SQLite's busy timeout decide. ``flock`` itself has no
timeout: a process stuck inside a write transaction holds the others until it ends or
dies (SQLite's lock would fail them after its busy timeout; either way nothing is
written meanwhile).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WAIT_SECONDS", "WriterLock", "writer_lock_for", "writers_of_process"]

log = logging.getLogger("tocsin.db")

#: How long a writer waits for the other threads of its process before going ahead.
WAIT_SECONDS = 30.0
#: How long a bulk writer steps aside for priority writers before it takes its turn
#: (when those that were waiting before it have had theirs)...
BULK_PATIENCE = 0.01
#: ...and at most, whatever they do (the thread lock does not queue them in order).
BULK_MAX_PATIENCE = 0.25
#: How long the engine and the delivery worker step aside for people's writes (and the
#: writes waiting when they came) before they take the next turn. A safety net, not a
#: share: a bound of 50 or 200 ms made every waiting background writer overdue in a busy
#: server, which then put the engine before people as a rule, and probes' pages came
#: later (their incidents are opened by foreground writes).
BACKGROUND_PATIENCE = 1.0

_registry: dict[Path, WriterLock] = {}
_registry_lock = threading.Lock()


class WriterLock:
    """The writers' lock of one database file (one per process: see
    :func:`writer_lock_for`)."""

    def __init__(self, lock_file: Path | None) -> None:
        """``lock_file`` None: the turns of this process's threads only."""
        self.lock_file = lock_file
        self.gate_file = (
            lock_file.with_name(lock_file.name.replace("writer-lock", "writer-gate"))
            if lock_file is not None
            else None
        )
        self._state = threading.Condition()
        self._busy = False
        self._priority_waiting = 0
        self._foreground_waiting = 0
        #: Bulk and background writers whose patience ran out: the next turns are theirs.
        self._overdue = 0
        #: Tickets of the priority writers waiting for their turn, in arrival order.
        self._next_ticket = 0
        self._waiting_tickets: set[int] = set()
        self._fd: int | None = None
        self._gate_fd: int | None = None
        self._unusable = lock_file is None

    @contextmanager
    def held(self, *, bulk: bool = False, background: bool = False) -> Iterator[None]:
        """Held for one write transaction. Not re-entrant: a request's transaction may
        end on another thread than it began (FastAPI runs a dependency's set-up and
        tear-down as separate thread-pool calls)."""
        if not self._acquire_thread(bulk, background):
            log.warning("waited %.0f s for another writer thread; going ahead", WAIT_SECONDS)
            yield
            return
        try:
            locked = self._lock_files(bulk)
            try:
                yield
            finally:
                if locked and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            with self._state:
                self._busy = False
                self._state.notify_all()

    def _acquire_thread(self, bulk: bool, background: bool = False) -> bool:
        """Take the thread-level turn: foreground writers first, then background ones,
        then bulk. A bulk writer becomes *overdue* once it has stepped aside for
        :data:`BULK_PATIENCE` and for every priority writer that was waiting when it
        came, or for :data:`BULK_MAX_PATIENCE` whatever they do; a background writer,
        once it has stepped aside for :data:`BACKGROUND_PATIENCE`. Then the next turn is
        its, and writers that arrive meanwhile wait for it."""
        start = time.monotonic()
        deadline = start + WAIT_SECONDS
        patient_until = start + (BULK_PATIENCE if bulk else BACKGROUND_PATIENCE)
        last_patience = start + (BULK_MAX_PATIENCE if bulk else BACKGROUND_PATIENCE)
        overdue = False
        foreground = not bulk and not background
        ticket = -1
        with self._state:
            barrier = self._next_ticket  # priority writers before this one go first
            if not bulk:
                self._priority_waiting += 1
                ticket = self._next_ticket
                self._next_ticket += 1
                self._waiting_tickets.add(ticket)
            if foreground:
                self._foreground_waiting += 1
            try:
                while True:
                    now = time.monotonic()
                    if (
                        not foreground
                        and not overdue
                        and now >= patient_until
                        and (
                            min(self._waiting_tickets, default=barrier) >= barrier
                            or now >= last_patience
                        )
                    ):
                        overdue = True
                        self._overdue += 1
                    if overdue:
                        blocked = self._busy
                    elif bulk:
                        blocked = self._busy or self._priority_waiting > 0
                    elif background:
                        blocked = self._busy or self._overdue > 0 or self._foreground_waiting > 0
                    else:
                        blocked = self._busy or self._overdue > 0
                    if not blocked:
                        break
                    if now >= deadline:
                        return False
                    # Until its patience ends; after that a bulk writer that still waits
                    # for earlier writers is woken when one of them lets go, or at last.
                    until = deadline
                    if not foreground and not overdue:
                        until = patient_until if now < patient_until else last_patience
                    self._state.wait(max(0.001, until - now))
                self._busy = True
                return True
            finally:
                if not bulk:
                    self._priority_waiting -= 1
                    self._waiting_tickets.discard(ticket)
                if foreground:
                    self._foreground_waiting -= 1
                if overdue:
                    self._overdue -= 1
                    self._state.notify_all()

    def _open(self, path: Path) -> int | None:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning("cannot open %s (%s): writers queue in SQLite", path, exc)
            self._unusable = True
            return None

    def _lock_files(self, bulk: bool) -> bool:
        if self._unusable or self.lock_file is None or self.gate_file is None:
            return False
        if self._fd is None:
            self._fd = self._open(self.lock_file)
        if self._gate_fd is None and self._fd is not None:
            self._gate_fd = self._open(self.gate_file)
        if self._fd is None or self._gate_fd is None:
            return False
        if bulk:  # step aside while a priority writer of another process waits
            patient_until = time.monotonic() + BULK_PATIENCE
            while True:
                try:
                    fcntl.flock(self._gate_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() < patient_until:
                        time.sleep(0.002)
                        continue
                else:
                    fcntl.flock(self._gate_fd, fcntl.LOCK_UN)
                break
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            return True
        fcntl.flock(self._gate_fd, fcntl.LOCK_SH)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        finally:
            fcntl.flock(self._gate_fd, fcntl.LOCK_UN)
        return True


def writers_of_process() -> WriterLock:
    """A writers' lock for this process alone, with no lock file: on PostgreSQL the
    writers of one process take turns too, people and the engine before bulk
    ingestion. The database would let them write at once, but one process runs one
    thread of Python at a time: a transaction holding row locks (the incident-number
    counter's, an incident's) waited behind every other writer's Python after each
    statement, and held them for seconds while a storm was stored. Other processes and
    hosts still write at the same time as this one."""
    return WriterLock(None)


def writer_lock_for(database: str | None) -> WriterLock | None:
    """The process's writer lock of this SQLite database file (None for ``:memory:``)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).resolve()
    with _registry_lock:
        lock = _registry.get(path)
        if lock is None:
            lock = _registry[path] = WriterLock(path.with_name(path.name + ".writer-lock"))
        return lock
