"""The one commit point: nothing below a session scope commits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.db.engine import WRITE_OPTION, is_sqlite
from tocsin.db.writers import WriterLock, writer_lock_for, writers_of_process

__all__ = ["WAIT_OBSERVERS", "WRITERS", "SessionFactory", "session_scope"]

#: The kinds of writer (:mod:`tocsin.db.writers`), as the wait observers name them.
WRITERS = ("foreground", "background", "bulk")
#: Told, inside each write transaction, how long it waited for its turn to write:
#: ``(session, writer, seconds)`` (the metrics count it when the transaction commits).
WAIT_OBSERVERS: list[Callable[[Session, str, float], None]] = []


class SessionFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._maker = sessionmaker(bind=engine, expire_on_commit=False)
        #: What write transactions queue on (:mod:`tocsin.db.writers`): on SQLite,
        #: shared with the other processes on the file; otherwise this process's own.
        self.writers: WriterLock | None = (
            writer_lock_for(engine.url.database) if is_sqlite(engine) else writers_of_process()
        )

    def __call__(self) -> Session:
        return self._maker()


@contextmanager
def session_scope(
    factory: SessionFactory, *, write: bool = True, bulk: bool = False, background: bool = False
) -> Iterator[Session]:
    """Open a transaction, commit it if the block succeeds, roll it back otherwise.

    ``bulk``: a short transaction of bulk work (alert ingestion) that steps aside for
    every other writer; ``background``: the engine's or the delivery worker's, which
    step aside for a person's (:mod:`tocsin.db.writers`).
    """
    with ExitStack() as stack:
        waited: float | None = None
        if write and factory.writers is not None:
            queued = time.perf_counter()
            stack.enter_context(factory.writers.held(bulk=bulk, background=background))
            waited = time.perf_counter() - queued
        session = factory()
        try:
            if write:
                session.connection(execution_options={WRITE_OPTION: True})
            if waited is not None:
                writer = "bulk" if bulk else "background" if background else "foreground"
                for observe in WAIT_OBSERVERS:
                    observe(session, writer, waited)
            # A read's transaction begins at its first statement (a plain BEGIN, which
            # takes SQLite's snapshot at the first read anyway): opening it does no I/O.
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
