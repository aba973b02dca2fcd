"""Wake-ups after commit: a worker sleeping in this process learns at once that a
transaction has committed new work for it (a timer, a message), instead of polling.

On PostgreSQL the transaction also sends a notification on :data:`CHANNEL`, delivered
at commit to the other processes' listeners (:mod:`tocsin.db.wakeups`)."""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import event, text
from sqlalchemy.orm import Session

__all__ = ["CHANNEL", "CommitSignal", "Wakeable", "all_signals"]

_signals: list[CommitSignal] = []

#: The PostgreSQL notification channel every Tocsin process listens on.
CHANNEL = "tocsin_wake"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")


def all_signals() -> list[CommitSignal]:
    return list(_signals)


class Wakeable(Protocol):
    """What a signal sets: a `threading.Event`, or anything else that wakes a waiter."""

    def set(self) -> None: ...


class CommitSignal:
    """Raised inside a transaction; the events subscribed to it are set once it commits
    (and forgotten if it rolls back)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._key = f"tocsin_signal:{name}"
        self._events: list[Wakeable] = []
        self._lock = threading.Lock()
        _signals.append(self)

    def raise_in(self, session: Session) -> None:
        if self._key in session.info:
            return  # raised already in this transaction
        session.info[self._key] = True
        if session.get_bind().dialect.name == "postgresql":
            # Delivered to the other processes when (and only if) this commits.
            session.connection().execute(_NOTIFY, {"payload": self.name})

    def subscribe(self, waiting: Wakeable) -> None:
        with self._lock:
            self._events.append(waiting)

    def unsubscribe(self, waiting: Wakeable) -> None:
        with self._lock:
            if waiting in self._events:
                self._events.remove(waiting)

    def notify(self) -> None:
        """Wake the subscribers now (for a commit made by another process)."""
        with self._lock:
            for waiting in self._events:
                waiting.set()

    def _committed(self, session: Session) -> None:
        if session.info.pop(self._key, False):
            self.notify()

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(self._key, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for signal in _signals:
        signal._committed(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    for signal in _signals:
        signal._rolled_back(session)
