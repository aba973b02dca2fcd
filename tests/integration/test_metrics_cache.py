"""The metrics summary's in-memory table answers exactly as reading the database would.

The 200-incident fixture is written, then changed the ways incidents change (acknowledged,
resolved, severity, services, an escalation, a drill, a new incident, a raw SQL
update from another connection); after each change the summary through the cache must
equal the summary read from scratch, and the cache must have re-read only what changed.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from tests.integration.test_metrics_api import load_fixture
from tests.unit.test_metrics_rules import NOW

from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.incidents.models import Incident, IncidentService, TimelineEvent
from tocsin.metrics.cache import IncidentTableCache
from tocsin.metrics.models import IncidentChange
from tocsin.metrics.service import metrics_summary, warm_cache
from tocsin.policy import Policy, example_policy_text, parse_policy

POLICY: Policy = parse_policy(example_policy_text())


def _loaded(url: str) -> Iterator[SessionFactory]:
    engine = create_db_engine(url)
    factory = SessionFactory(engine)
    load_fixture(factory)
    yield factory
    engine.dispose()


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    yield from _loaded(database_url)


@pytest.fixture
def sqlite_sessions(sqlite_template: Path, tmp_path: Path) -> Iterator[SessionFactory]:
    """Only SQLite has the change log's triggers (PostgreSQL reads every time)."""
    target = tmp_path / "tocsin.db"
    shutil.copyfile(sqlite_template, target)
    yield from _loaded(f"sqlite:///{target}")


def _summary(sessions: SessionFactory, cache: IncidentTableCache | None, days: int = 30) -> Any:
    with session_scope(sessions, write=False) as session:
        summary = metrics_summary(
            session=session, policy=POLICY, now=NOW, window=timedelta(days=days), cache=cache
        )
    return asdict(summary)


def _agree(sessions: SessionFactory, cache: IncidentTableCache, days: int = 30) -> Any:
    cached = _summary(sessions, cache, days)
    assert cached == _summary(sessions, None, days)
    return cached


def _sqlite(sessions: SessionFactory) -> bool:
    return sessions.engine.dialect.name == "sqlite"


def _first_unacknowledged(session: Any) -> Incident:
    query = select(Incident).where(Incident.acknowledged_at.is_(None)).order_by(Incident.id)
    incident = session.scalars(query.limit(1)).one()
    assert isinstance(incident, Incident)
    return incident


def _acknowledge_one(session: Any) -> None:
    incident = _first_unacknowledged(session)
    session.execute(
        update(Incident)
        .where(Incident.id == incident.id)
        .values(acknowledged_at=incident.detected_at + timedelta(seconds=30))
    )


def test_every_kind_of_change_shows_in_the_next_summary(sessions: SessionFactory) -> None:
    cache = IncidentTableCache()
    before = _agree(sessions, cache)
    assert cache.last_refresh == "read"
    _agree(sessions, cache)
    assert cache.last_refresh == ("kept" if _sqlite(sessions) else "read")

    with session_scope(sessions) as session:
        incident = _first_unacknowledged(session)
        incident.acknowledged_at = incident.detected_at + timedelta(minutes=3)
    after_ack = _agree(sessions, cache)
    assert after_ack["mtta"] != before["mtta"]
    assert cache.last_refresh == ("patched" if _sqlite(sessions) else "read")

    with session_scope(sessions) as session:
        open_one = session.scalars(
            select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id).limit(1)
        ).one()
        open_one.resolved_at = NOW - timedelta(minutes=5)
        open_one.severity, open_one.severity_rank = "SEV1", 1
    after_resolve = _agree(sessions, cache)
    assert after_resolve["open"] == after_ack["open"] - 1

    with session_scope(sessions) as session:
        first = session.scalars(select(Incident).order_by(Incident.id).limit(1)).one()
        session.execute(delete(IncidentService).where(IncidentService.incident_id == first.id))
        session.add(IncidentService(incident_id=first.id, service="payments-db"))
        session.add(
            TimelineEvent(
                incident_id=first.id,
                at=first.detected_at + timedelta(minutes=2),
                actor="tocsin",
                kind="escalated",
                summary="escalated",
                data={},
            )
        )
        first.drill = True
    changed = _agree(sessions, cache)
    assert "payments-db" not in changed["by_service"]  # the incident became a drill
    assert changed["drills_excluded"] == after_resolve["drills_excluded"] + 1

    with session_scope(sessions) as session:
        template = session.scalars(select(Incident).order_by(Incident.id.desc()).limit(1)).one()
        session.add(
            Incident(
                number=template.number + 1,
                title="Brand new outage of checkout",
                description="",
                status="triggered",
                severity="SEV2",
                severity_rank=2,
                tags=[],
                started_at=NOW - timedelta(hours=2),
                detected_at=NOW - timedelta(hours=1),
                created_at=NOW - timedelta(hours=1),
                updated_at=NOW - timedelta(hours=1),
                created_by="test",
                services=[IncidentService(service="checkout-api")],
            )
        )
    added = _agree(sessions, cache)
    assert added["incidents"] == changed["incidents"] + 1


def test_a_write_by_another_program_is_seen(sqlite_sessions: SessionFactory) -> None:
    """The change log is written by the database itself, not by Tocsin's code."""
    sessions = sqlite_sessions
    cache = IncidentTableCache()
    before = _agree(sessions, cache)
    path = sessions.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as other:
        other.execute(
            "UPDATE incidents SET resolved_at = NULL WHERE id IN "
            "(SELECT id FROM incidents WHERE resolved_at IS NOT NULL ORDER BY id LIMIT 3)"
        )
    after = _agree(sessions, cache)
    assert after["open"] == before["open"] + 3
    assert cache.last_refresh == "patched"


def test_a_pruned_or_emptied_log_means_reading_everything(
    sqlite_sessions: SessionFactory,
) -> None:
    sessions = sqlite_sessions
    cache = IncidentTableCache()
    _agree(sessions, cache)
    with session_scope(sessions) as session:
        session.execute(delete(IncidentChange))
    with session_scope(sessions) as session:  # the next entry still follows the last seen
        _acknowledge_one(session)
    _agree(sessions, cache)
    assert cache.last_refresh == "patched"
    with session_scope(sessions) as session:
        _acknowledge_one(session)
        _acknowledge_one(session)
        # Entries the cache never saw are gone: only the newest is left.
        session.execute(
            delete(IncidentChange).where(
                IncidentChange.seq
                < select(IncidentChange.seq)
                .order_by(IncidentChange.seq.desc())
                .limit(1)
                .scalar_subquery()
            )
        )
    _agree(sessions, cache)
    assert cache.last_refresh == "read"


def test_a_wider_window_reads_again_and_a_narrower_one_is_kept(sessions: SessionFactory) -> None:
    cache = IncidentTableCache()
    _agree(sessions, cache, days=30)
    _agree(sessions, cache, days=365)
    assert cache.last_refresh == "read"
    _agree(sessions, cache, days=7)
    assert cache.last_refresh == ("kept" if _sqlite(sessions) else "read")


def test_warming_up_fills_the_year(sessions: SessionFactory) -> None:
    cache = IncidentTableCache()
    warm_cache(cache, sessions, NOW)
    assert cache.last_refresh == "read"
    _agree(sessions, cache, days=365)
    assert cache.last_refresh == ("kept" if _sqlite(sessions) else "read")
