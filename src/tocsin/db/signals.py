"""Wake-ups after commit: a worker sleeping in this process learns at once that a
transaction has committed new work for it (a timer, a message), instead of polling.

On PostgreSQL the transaction also sends a notification on :data:`CHANNEL`, delivered
at commit to the other processes' listeners (:mod:`tocsin.db.wakeups`). The signals a
transaction raised are sent together, in one statement just before it commits: a
declared incident raises three or four, and each statement costs a round trip and a
quarter of a millisecond of the process's time on PostgreSQL. Each signal is still its
own notification, so listeners of every version understand them."""

from __future__ import annotations

import functools
import threading
from typing import Protocol

from sqlalchemy import TextClause, event, text
from sqlalchemy.orm import Session, SessionTransaction

__all__ = ["CHANNEL", "CommitSignal", "Wakeable", "all_signals"]

_signals: list[CommitSignal] = []

#: The PostgreSQL notification channel every Tocsin process listens on.
CHANNEL = "tocsin_wake"
#: The names of the signals a transaction raised, to be sent as it commits...
_UNSENT = "tocsin_signals:unsent"
#: ...and, once they were sent, that a signal raised later goes out at once.
_SENT = "tocsin_signals:sent"


@functools.cache
def _notify(count: int) -> TextClause:
    """One statement that sends ``count`` notifications (parameters ``p0``...)."""
    calls = ", ".join(f"pg_notify('{CHANNEL}', :p{n})" for n in range(count))
    return text(f"SELECT {calls}")


def _send(session: Session, names: list[str]) -> None:
    session.connection().execute(_notify(len(names)), {f"p{n}": v for n, v in enumerate(names)})


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
            if session.info.get(_SENT):
                _send(session, [self.name])  # raised by another hook as it commits
            else:
                session.info.setdefault(_UNSENT, []).append(self.name)

    def raised_in(self, session: Session) -> bool:
        """Whether ``session``'s transaction raised this signal (and has not ended)."""
        return self._key in session.info

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


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint is released; the transaction goes on
    unsent = session.info.pop(_UNSENT, None)
    session.info[_SENT] = True
    if unsent:
        _send(session, unsent)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_SENT, None)
    for signal in _signals:
        signal._committed(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    """The transaction rolled back: its signals are forgotten. A savepoint's rollback
    forgets nothing (the transaction may still commit what it did before; a wake-up for
    what the savepoint undid only makes a worker look)."""
    if previous.nested:
        return
    session.info.pop(_UNSENT, None)
    session.info.pop(_SENT, None)
    for signal in _signals:
        signal._rolled_back(session)
