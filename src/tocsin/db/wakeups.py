"""Wake-ups across processes and hosts on PostgreSQL: LISTEN/NOTIFY.

A transaction that raises a :class:`~tocsin.db.signals.CommitSignal` (a timer set, a
page queued, a timeline entry, an inbox body) also sends ``NOTIFY tocsin_wake, '<name>'``
— PostgreSQL delivers it when, and only if, the transaction commits. Every `tocsin serve`
and `tocsin worker` process on every host keeps one connection that LISTENs and sets the
signal locally, so the engine, the delivery worker or a dashboard stream elsewhere wakes
within milliseconds instead of at its next poll. The poll stays as the safety net: a
listener that lost its connection wakes everyone once it is back (whatever was sent
meanwhile is found by reading the tables, as always).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from tocsin.db.signals import CHANNEL, all_signals

__all__ = ["CHANNEL", "Listener", "listen"]

log = logging.getLogger(__name__)

#: Backoff between reconnection attempts, in seconds.
_RETRY_FIRST, _RETRY_MAX = 0.5, 30.0


class Listener:
    """One LISTEN connection per process, in a daemon thread, reconnecting by itself."""

    def __init__(self, engine: Engine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set each time the listener is connected and listening (tests wait on it).
        self.listening = threading.Event()

    def start(self) -> Listener:
        self._thread = threading.Thread(target=self._run, name="tocsin-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        retry = _RETRY_FIRST
        failing = False
        while not self._stop.is_set():
            try:
                self._listen()
                retry = _RETRY_FIRST
                failing = False
            except Exception as exc:
                self.listening.clear()
                if not failing:
                    log.warning(
                        "cross-process wake-ups paused (%s); polling until the database "
                        "answers again",
                        type(exc).__name__,
                    )
                    failing = True
                self._stop.wait(retry)
                retry = min(retry * 2, _RETRY_MAX)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            _wake_everyone()  # whatever was announced while nobody listened
            self.listening.set()
            log.info("listening for wake-ups from other processes")
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=1.0):
                    _wake(notice.payload)
                    if self._stop.is_set():
                        break
                conn.execute("SELECT 1")  # a dead connection raises here, not silently


def _wake(name: str) -> None:
    for signal in all_signals():
        if signal.name == name:
            signal.notify()


def _wake_everyone() -> None:
    for signal in all_signals():
        signal.notify()


def listen(engine: Engine) -> Listener | None:
    """Start this process's listener when the database is PostgreSQL (SQLite is one
    host: its processes wake each other by signal)."""
    if engine.dialect.name != "postgresql":
        return None
    return Listener(engine).start()
