"""Knowing at once that an incident changed in this process.

Every change to an incident appends to its timeline. A transaction that added
timeline events rings :data:`BELL` once it commits, which wakes the open event streams
of this process immediately; changes committed by other processes (the CLI, a separate
worker) are found by the streams' regular poll instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tocsin.incidents.models import TimelineEvent

__all__ = ["BELL", "ChangeBell"]

_KEY = "tocsin_dashboard:incident_changed"


class ChangeBell:
    """Wakes asyncio tasks (on any event loop) from whichever thread committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @contextmanager
    def listen(self) -> Iterator[asyncio.Event]:
        """An event set whenever the bell rings, while the block runs (clear it yourself)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.append(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiting.remove(entry)

    def ring(self) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for loop, flag in waiting:
            with suppress(RuntimeError):  # that loop has closed; its listener is leaving
                loop.call_soon_threadsafe(flag.set)


BELL = ChangeBell()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    if any(isinstance(item, TimelineEvent) for item in session.new):
        session.info[_KEY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_KEY, False):
        BELL.ring()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
