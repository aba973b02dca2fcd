"""What the sends came to, recorded several at a time.

Each send thread used to record its outcome in a transaction of its own. When hundreds
of pages go out, those transactions queue for the writer one behind the other: on
PostgreSQL a storm's trace showed five send threads at a time waiting for their turn,
each turn several round trips. Here a thread that finishes a send adds its outcome to
a shared list and waits for the recorder's turn; whichever thread gets the turn first
records, once its transaction has the writer, every outcome in the list by then (in id
order, so two workers never lock the same rows in opposite orders), and the others
find theirs recorded already. A thread returns only once its outcome is committed, as
before.

If that transaction fails, each outcome is tried again in a transaction of its own, so
one bad row costs only its own outcome; an outcome that cannot be recorded is left to
the recovery of sends past their deadline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

__all__ = ["OutcomeRecorder"]

log = logging.getLogger("tocsin.delivery")

_Item = TypeVar("_Item")


class OutcomeRecorder(Generic[_Item]):
    """Records items with ``write(session, item)`` inside ``transaction()``, batching
    those of threads that finish at about the same time; ``key`` orders a batch and
    names an item in the log."""

    def __init__(
        self,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
        write: Callable[[Session, _Item], None],
        key: Callable[[_Item], int],
    ) -> None:
        self._transaction = transaction
        self._write = write
        self._key = key
        self._pending: list[_Item] = []
        #: Keys of items that could not be recorded, until their threads have seen it.
        self._failed: set[int] = set()
        self._pending_lock = threading.Lock()
        self._turn = threading.Lock()

    def record(self, item: _Item) -> bool:
        """Record ``item`` (and whatever else is waiting); True once it is committed,
        False if it could not be (logged)."""
        key = self._key(item)
        with self._pending_lock:
            self._pending.append(item)
        with self._turn:
            with self._pending_lock:
                waiting = bool(self._pending)
            if waiting:  # else the thread that had the turn before recorded this one too
                failed = self._record()
                with self._pending_lock:
                    self._failed |= failed
        with self._pending_lock:
            if key in self._failed:
                self._failed.discard(key)
                return False
        return True

    def _take(self) -> list[_Item]:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        return sorted(batch, key=self._key)

    def _record(self) -> set[int]:
        """Record what is pending; the keys of the items that could not be. The batch is
        taken once the transaction has its turn of the writer, so that the outcomes that
        arrived while it waited (on the worst day, for a while) go in it too."""
        batch: list[_Item] = []
        try:
            with self._transaction() as session:
                batch = self._take()
                for item in batch:
                    self._write(session, item)
            return set()
        except Exception:
            if not batch:  # failed before taking it: nothing of it was written
                batch = self._take()
            if len(batch) == 1:
                self._log(batch[0])
                return {self._key(batch[0])}
        failed: set[int] = set()
        for item in batch:
            try:
                with self._transaction() as session:
                    self._write(session, item)
            except Exception:
                self._log(item)
                failed.add(self._key(item))
        return failed

    def _log(self, item: _Item) -> None:
        log.exception(
            "delivery %s: outcome not recorded; it is recovered after its deadline",
            self._key(item),
        )
