"""Send outcomes recorded several a transaction: threads that finish at about the same
time share one; each returns only once its own is committed; one bad outcome costs
only itself. Against a real SQLite database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tocsin.engine.outcomes import OutcomeRecorder

metadata = MetaData()
outcomes = Table(
    "outcomes",
    metadata,
    Column("delivery_id", Integer, primary_key=True),
    Column("state", String(20), nullable=False),
)


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.transactions = 0
        self.gate: threading.Event | None = None  # holds the next transaction open
        self.entered = threading.Event()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self.transactions += 1
        with Session(self.engine) as session, session.begin():
            gate, self.gate = self.gate, None
            if gate is not None:
                self.entered.set()
                assert gate.wait(10)
            yield session

    def stored(self) -> dict[int, str]:
        with self.engine.connect() as connection:
            return dict(connection.execute(select(outcomes.c.delivery_id, outcomes.c.state)).all())


def write(session: Session, item: tuple[int, str | None]) -> None:
    session.execute(insert(outcomes).values(delivery_id=item[0], state=item[1]))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    engine = create_engine(f"sqlite:///{tmp_path / 'outcomes.db'}")
    metadata.create_all(engine)
    yield Database(engine)
    engine.dispose()


def wait_for(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, at most 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the outcomes never queued up"
        threading.Event().wait(0.005)


def recorder(db: Database) -> OutcomeRecorder[tuple[int, str | None]]:
    return OutcomeRecorder(transaction=db.transaction, write=write, key=lambda item: item[0])


def test_outcomes_that_finish_while_one_waits_for_the_writer_share_its_transaction(
    db: Database,
) -> None:
    """The batch is taken once the transaction has its turn (the gate stands for the
    wait for the writer): what arrived meanwhile goes in it, not in a turn of its own."""
    record = recorder(db)
    results: dict[int, bool] = {}
    db.gate = release = threading.Event()
    first = threading.Thread(target=lambda: results.update({1: record.record((1, "sent"))}))
    first.start()
    assert db.entered.wait(10)  # the first outcome's transaction waits for the writer
    others = [
        threading.Thread(target=lambda n=n: results.update({n: record.record((n, "sent"))}))
        for n in range(2, 7)
    ]
    for thread in others:
        thread.start()
    wait_for(lambda: len(record._pending) == 6)  # the first and the five others pending
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == {n: True for n in range(1, 7)}
    assert db.stored() == {n: "sent" for n in range(1, 7)}
    assert db.transactions == 1


def test_a_bad_outcome_costs_only_itself(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    record = recorder(db)
    db.gate = release = threading.Event()
    results: dict[int, bool] = {}
    first = threading.Thread(target=lambda: results.update({1: record.record((1, "sent"))}))
    first.start()
    assert db.entered.wait(10)
    items = [(2, "sent"), (3, None), (4, "failed")]  # 3 breaks the NOT NULL constraint
    others = [
        threading.Thread(target=lambda i=i: results.update({i[0]: record.record(i)})) for i in items
    ]
    for thread in others:
        thread.start()
    wait_for(lambda: len(record._pending) == 4)
    with caplog.at_level("ERROR", logger="tocsin.delivery"):
        release.set()
        for thread in [first, *others]:
            thread.join(10)
    assert results == {1: True, 2: True, 3: False, 4: True}
    assert db.stored() == {1: "sent", 2: "sent", 4: "failed"}
    assert [r.getMessage() for r in caplog.records] == [
        "delivery 3: outcome not recorded; it is recovered after its deadline"
    ]


def test_a_lone_outcome_is_recorded_at_once(db: Database) -> None:
    record = recorder(db)
    assert record.record((7, "sent"))
    assert db.stored() == {7: "sent"}
    assert db.transactions == 1
