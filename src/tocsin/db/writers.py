"""One SQLite writer at a time, across threads and processes, handed over at once.

SQLite lets one transaction write at a time; another ``BEGIN IMMEDIATE`` waits in
SQLite's busy handler, which sleeps and retries (1, 2, 5, ... 100 ms), so between busy
writers — the group commit of alerts, the engine worker, the delivery worker, other
server processes on the same file (``tocsin serve --workers N``) — the database sits
idle much of the time. Write transactions therefore first take this lock: a thread
lock within the process, then ``flock`` on a file beside the database, for
which the kernel wakes the next waiter the moment the holder lets go.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WAIT_SECONDS", "WriterLock", "writer_lock_for"]

log = logging.getLogger("tocsin.db")

#: How long a writer waits for the other threads of its process before going ahead.
WAIT_SECONDS = 30.0

_registry: dict[Path, WriterLock] = {}
_registry_lock = threading.Lock()


class WriterLock:
    """The writers' lock of one database file (one per process: see
    :func:`writer_lock_for`)."""

    def __init__(self, lock_file: Path) -> None:
        self.lock_file = lock_file
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._unusable = False

    @contextmanager
    def held(self) -> Iterator[None]:
        """Held for one write transaction. A plain lock, not a re-entrant one: a request's
        transaction may end on another thread than it began (FastAPI runs a
        dependency's set-up and tear-down as separate thread-pool calls)."""
        if not self._threads.acquire(timeout=WAIT_SECONDS):
            log.warning("waited %.0f s for another writer thread; going ahead", WAIT_SECONDS)
            yield
            return
        try:
            locked = self._lock_file()
            try:
                yield
            finally:
                if locked and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self) -> bool:
        if self._unusable:
            return False
        if self._fd is None:
            try:
                self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                log.warning("cannot open %s (%s): writers queue in SQLite", self.lock_file, exc)
                self._unusable = True
                return False
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True


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
