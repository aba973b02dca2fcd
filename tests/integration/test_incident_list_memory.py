"""The incident list's totals, and where its pages begin, are learned once and kept
until an incident changes: every change that moves them shows at once, in this process
and (PostgreSQL) in others, and a change that moves none leaves what was learned in
use."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from tests.support.waiting import wait_for

from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.counters import next_number
from tocsin.db.wakeups import Listener
from tocsin.incidents.list_memory import memory
from tocsin.incidents.models import Incident, IncidentService
from tocsin.incidents.queries import list_reads
from tocsin.policy import Policy, example_policy_text, parse_policy

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(example_policy_text())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


class Counted:
    """How many count statements the database was sent."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT COUNT"):
            self.statements += 1


def _incident(session: Session, title: str, status: str = "triggered") -> Incident:
    incident = Incident(
        number=next_number(session, "incident"),
        title=title,
        description="",
        status=status,
        severity="SEV2",
        severity_rank=2,
        tags=[],
        started_at=NOW,
        detected_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        created_by="test",
    )
    session.add(incident)
    session.flush()
    return incident


def _open(engine: Engine, title: str, *, services: tuple[str, ...] = ()) -> int:
    with session_scope(SessionFactory(engine)) as session:
        incident = _incident(session, title)
        for name in services:
            session.add(IncidentService(incident_id=incident.id, service=name))
        return incident.id


def _total(engine: Engine, policy: Policy, **filters: Any) -> int:
    with session_scope(SessionFactory(engine), write=False) as session:
        _, total = list_reads(session=session, policy=policy, limit=5, **filters)
        return total


def _change(engine: Engine, incident_id: int, **values: Any) -> None:
    with session_scope(SessionFactory(engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        for name, value in values.items():
            setattr(incident, name, value)


def test_every_change_that_moves_a_total_shows_at_once(engine: Engine, policy: Policy) -> None:
    counted = Counted(engine)
    first = _open(engine, "one", services=("checkout-api",))
    _open(engine, "two")
    assert _total(engine, policy) == 2
    assert _total(engine, policy, statuses=["active"]) == 2
    assert _total(engine, policy, service="checkout-api") == 1
    made = counted.statements
    assert _total(engine, policy) == 2 and _total(engine, policy, statuses=["active"]) == 2
    assert counted.statements == made, "a kept count was made again"

    _change(engine, first, description="more", updated_at=NOW)  # moves no total
    assert _total(engine, policy) == 2
    assert counted.statements == made, "a new description threw the counts away"

    _open(engine, "three")
    assert _total(engine, policy) == 3
    _change(engine, first, status="resolved", resolved_at=NOW)
    assert _total(engine, policy, statuses=["active"]) == 2
    assert _total(engine, policy, statuses=["resolved"]) == 1
    _change(engine, first, severity="SEV1", severity_rank=1)
    assert _total(engine, policy, severity="SEV1") == 1

    with session_scope(SessionFactory(engine)) as session:
        session.add(IncidentService(incident_id=first + 1, service="checkout-api"))
    assert _total(engine, policy, service="checkout-api") == 2
    with session_scope(SessionFactory(engine)) as session:
        held = session.get(IncidentService, (first, "checkout-api"))
        session.delete(held)
    assert _total(engine, policy, service="checkout-api") == 1
    with session_scope(SessionFactory(engine)) as session:
        session.delete(session.get(Incident, first))
    assert _total(engine, policy) == 2


def test_a_rolled_back_change_keeps_the_counts(engine: Engine, policy: Policy) -> None:
    _open(engine, "one")
    assert _total(engine, policy) == 1
    generation = memory.generation
    with pytest.raises(RuntimeError), session_scope(SessionFactory(engine)) as session:
        _incident(session, "never")
        raise RuntimeError("rolled back")
    assert memory.generation == generation
    assert _total(engine, policy) == 1


def test_a_count_made_in_a_transaction_older_than_a_change_is_not_kept(
    engine: Engine, policy: Policy
) -> None:
    """A reader that began before a change counts what its snapshot holds; what it
    counted must not be served to the readers that come after the change."""
    _open(engine, "one")
    with session_scope(SessionFactory(engine), write=False) as reader:
        reader.execute(Incident.__table__.select().limit(1)).all()  # the snapshot begins
        _open(engine, "two")  # commits meanwhile
        list_reads(session=reader, policy=policy, limit=5)
    assert _total(engine, policy) == 2


def test_the_same_count_asked_by_many_at_once_is_made_once(engine: Engine, policy: Policy) -> None:
    _open(engine, "one")
    counted = Counted(engine)
    start = threading.Barrier(8)
    totals: list[int] = []

    def ask() -> None:
        start.wait()
        totals.append(_total(engine, policy, statuses=["triggered"]))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert totals == [1] * 8
    assert counted.statements == 1


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from tocsin.db import SessionFactory, create_db_engine, session_scope
    from tocsin.db.counters import next_number
    from tocsin.incidents.models import Incident
    import tocsin.incidents.service  # as every server process does

    engine = create_db_engine(sys.argv[1])
    now = datetime.now(UTC)
    with session_scope(SessionFactory(engine)) as session:
        session.add(Incident(number=next_number(session, "incident"), title="elsewhere",
            status="triggered", severity="SEV2", severity_rank=2, created_by="other",
            detected_at=now, created_at=now, updated_at=now))
    engine.dispose()
    """
)


def test_an_incident_another_process_opened_shows_in_the_total(
    engine: Engine, database_url: str, policy: Policy
) -> None:
    """On PostgreSQL its commit is heard (LISTEN/NOTIFY); on SQLite the change log its
    transaction wrote is read in the list's own snapshot: the next list counts it."""
    listener = Listener(engine).start() if engine.dialect.name == "postgresql" else None
    try:
        if listener is not None:
            wait_for(listener.listening.is_set, 10, "the listener is listening")
        _open(engine, "here")
        assert _total(engine, policy) == 1
        assert _numbers(engine, policy, limit=1, offset=1) == []
        generation = memory.generation
        done = subprocess.run(
            [sys.executable, "-c", _OTHER_PROCESS, database_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if listener is not None:
            wait_for(lambda: memory.generation != generation, 10, "the other commit is heard")
        else:
            assert memory.generation == generation  # nothing told this process
        assert _total(engine, policy) == 2
        assert len(_numbers(engine, policy, limit=1, offset=1)) == 1
    finally:
        if listener is not None:
            listener.stop()


def _numbers(engine: Engine, policy: Policy, **page: Any) -> list[int]:
    with session_scope(SessionFactory(engine), write=False) as session:
        reads, _ = list_reads(session=session, policy=policy, **page)
        return [read.number for read in reads]


class Statements:
    """The page statements the database was sent, with their parameters."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _conn: object, _cursor: object, statement: str, params: Any, *_: object
    ) -> None:
        if "ORDER BY incidents.number DESC" in statement:
            self.sent.append((statement, params))


def test_an_offset_walk_reads_each_page_from_where_the_last_ended(
    engine: Engine, policy: Policy
) -> None:
    for n in range(23):
        _open(engine, f"incident {n}")
    every = _numbers(engine, policy, limit=100)
    statements = Statements(engine)
    walked = [_numbers(engine, policy, limit=5, offset=offset) for offset in range(0, 25, 5)]
    assert [n for page in walked for n in page] == every
    # After the first page, none made the database skip rows: each began at a number.
    for statement, params in statements.sent[1:]:
        assert "incidents.number <" in statement, statement
        assert 0 in (params if isinstance(params, tuple) else tuple(params.values()))
    assert _numbers(engine, policy, limit=5, offset=10) == every[10:15]  # asked again

    _open(engine, "newest")  # every page moves one down
    assert _numbers(engine, policy, limit=5, offset=10) == every[9:14]


def test_a_page_learned_before_a_status_change_is_not_used_after_it(
    engine: Engine, policy: Policy
) -> None:
    ids = [_open(engine, f"incident {n}") for n in range(12)]
    active = {"statuses": ["active"], "limit": 4}
    first = _numbers(engine, policy, **active, offset=0)
    second = _numbers(engine, policy, **active, offset=4)
    assert len(first) == len(second) == 4
    _change(engine, ids[-1], status="resolved", resolved_at=NOW)  # the newest leaves
    assert _numbers(engine, policy, **active, offset=4) == [*second[1:], second[-1] - 1]


def test_a_transaction_counts_its_own_changes_and_keeps_them_to_itself(
    engine: Engine, policy: Policy
) -> None:
    _open(engine, "one")
    assert _total(engine, policy) == 1  # kept
    with pytest.raises(RuntimeError), session_scope(SessionFactory(engine)) as session:
        _incident(session, "not yet committed")
        _, total = list_reads(session=session, policy=policy, limit=5)
        assert total == 2
        raise RuntimeError("rolled back")
    assert _total(engine, policy) == 1
