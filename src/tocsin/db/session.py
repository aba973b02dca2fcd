"""The one commit point: nothing below a session scope commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.db.engine import WRITE_OPTION

__all__ = ["SessionFactory", "session_scope"]


class SessionFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._maker = sessionmaker(bind=engine, expire_on_commit=False)

    def __call__(self) -> Session:
        return self._maker()


@contextmanager
def session_scope(factory: SessionFactory, *, write: bool = True) -> Iterator[Session]:
    """Open a transaction, commit it if the block succeeds, roll it back otherwise."""
    session = factory()
    try:
        session.connection(execution_options={WRITE_OPTION: write})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
