"""The write probe behind ``/readyz``: a short write transaction that commits for real.

A read (``SELECT 1``) succeeds on a database whose disk is full or that was made
read-only, so readiness would claim what the next write refutes. The probe instead
rewrites the single row of ``health_probe`` and commits: it takes the writers' turn
like any other write (SQLite's lock, PostgreSQL's row lock and WAL) and fails the way
they would.

Rewriting a row in place needs no new space, though: on SQLite a database at its size
limit (a full disk, or ``max_page_count``) still takes it while every insert fails.
So the same transaction also stores :data:`HEADROOM_BYTES` in the row and clears them
again: that needs a few pages from the free list or from a growing file, as a typical
write does, and gives them back before it commits (the file does not grow).

:class:`WriteProbe` runs the probe on a thread of its own, one at a time per process,
and lets every caller within :data:`REUSE_SECONDS` of a finished probe have its
outcome, so a burst of readiness checks costs the writers one transaction a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy import Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.clock import Clock
from tocsin.db.base import Base, UTCDateTime
from tocsin.db.session import SessionFactory, session_scope

__all__ = ["HEADROOM_BYTES", "REUSE_SECONDS", "HealthProbe", "WriteProbe", "probe_write"]

#: How long a finished probe's outcome answers further readiness checks.
REUSE_SECONDS = 1.0
#: Bytes written and cleared by each probe: four SQLite pages, as much new space as a
#: small write (an incident, its timeline entry, its jobs) takes.
HEADROOM_BYTES = 16 * 1024
_PROBE_ROW = 1
_HEADROOM = bytes(HEADROOM_BYTES)


class HealthProbe(Base):
    """The row ``/readyz`` rewrites: when a write last committed."""

    __tablename__ = "health_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    probed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    headroom: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


def probe_write(sessions: SessionFactory, now: datetime) -> None:
    """One write transaction (see the module's docstring); raises what the database
    raised when it cannot be written."""
    with session_scope(sessions) as session:
        row = session.get(HealthProbe, _PROBE_ROW)
        if row is None:  # the migration makes it; someone removed it
            row = HealthProbe(id=_PROBE_ROW, probed_at=now)
            session.add(row)
        row.probed_at = now
        row.headroom = _HEADROOM
        session.flush()
        row.headroom = None


class WriteProbe:
    """Readiness as the latest write probe of this process says (thread-safe)."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        *,
        reuse_seconds: float = REUSE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.reuse_seconds = reuse_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._current: Future[BaseException | None] | None = None
        self._finished_at = 0.0

    def outcome(self) -> Future[BaseException | None]:
        """The outcome (None, or what the database raised) of the probe under way, of
        one that finished less than ``reuse_seconds`` ago, or else of a new probe."""
        with self._lock:
            current = self._current
            if current is not None and (
                not current.done() or self._monotonic() - self._finished_at < self.reuse_seconds
            ):
                return current
            future: Future[BaseException | None] = Future()
            future.set_running_or_notify_cancel()  # nobody may cancel a shared probe
            self._current = future
        # A thread apiece (at most one at a time): a probe stuck behind a long writer
        # must not hold a server's worker threads, and must not keep it from exiting.
        threading.Thread(
            target=self._run, args=(future,), name="tocsin-write-probe", daemon=True
        ).start()
        return future

    def _run(self, future: Future[BaseException | None]) -> None:
        failure: BaseException | None = None
        try:
            probe_write(self.sessions, self.clock.now())
        except Exception as exc:
            failure = exc
        with self._lock:
            self._finished_at = self._monotonic()
        future.set_result(failure)
