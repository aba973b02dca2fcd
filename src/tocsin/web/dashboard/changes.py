"""Knowing at once that an incident changed in this process.

Every change to an incident appends to its timeline. A transaction that added
timeline events rings :data:`BELL` once it commits (through the timeline's commit
signal), which wakes the open event streams
of this process immediately; changes committed by other processes (the CLI, a separate
worker) are found by the streams' regular poll instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tocsin.incidents.timeline import TIMELINE_APPENDED

__all__ = ["BELL", "ChangeBell"]


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


class _Ringer:
    """Rings the bell when the timeline's commit signal is set."""

    def set(self) -> None:
        BELL.ring()


TIMELINE_APPENDED.subscribe(_Ringer())
