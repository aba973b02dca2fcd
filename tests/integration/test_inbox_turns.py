"""Queued webhook bodies are decided by whichever process is free, never out of order,
and a body whose process died is decided by another one without waiting for a restart.

PostgreSQL is where two processes decide at once (``FOR UPDATE SKIP LOCKED``); each test
holds one transaction open, as a busy process would, while another looks for work.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session
from tests.conftest import LiveServer
from tests.support.alertmanager import firing_body
from tests.support.prometheus import samples, value

from tocsin.alerts import inbox
from tocsin.alerts.bulk_models import InboxBatch
from tocsin.alerts.integrations import create_integration, get_integration
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.policy import PolicyStore, example_policy_text
from tocsin.web import groupcommit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BOUND = 15.0  # seconds for a server to find and decide a body


def _queue(session: Session, name: str, prefix: str, count: int) -> int:
    batch = inbox.queue_batch(
        session=session,
        integration=get_integration(session=session, name=name),
        source="alertmanager",
        body=firing_body(prefix, count),
        total=count,
        now=NOW,
    )
    return batch.id


def _taken(chunk: inbox.Chunk | None) -> int | None:
    return None if chunk is None else chunk.batch.id


def test_a_busy_body_holds_back_its_integrations_later_bodies_only(
    postgres_url: str, tmp_path: Any
) -> None:
    policy_path = tmp_path / "tocsin.yaml"
    policy_path.write_text(example_policy_text(), encoding="utf-8")
    policy = PolicyStore(policy_path).current
    engine = create_db_engine(postgres_url)
    sessions = SessionFactory(engine)
    try:
        with session_scope(sessions) as session:
            for name in ("edge", "core"):
                create_integration(
                    session=session,
                    policy=policy,
                    name=name,
                    service="checkout-api",
                    kind="alertmanager",
                    now=NOW,
                )
            first = _queue(session, "edge", "a", 3)
            second = _queue(session, "edge", "b", 3)
            other = _queue(session, "core", "c", 3)

        busy = sessions()  # a process in the middle of deciding the first body
        try:
            assert _taken(inbox.take_chunk(session=busy, size=2)) == first
            with session_scope(sessions) as session:
                # Not "edge"'s second body: its alerts would overtake the first's.
                assert _taken(inbox.take_chunk(session=session, size=100)) == other
            with session_scope(sessions) as session:
                chunk = inbox.take_chunk(session=session, size=100)
                assert _taken(chunk) == other  # nothing else may be taken yet
                assert chunk is not None
                inbox.chunk_done(session=session, chunk=chunk, now=NOW)
            with session_scope(sessions) as session:
                assert inbox.take_chunk(session=session, size=100) is None
        finally:
            busy.rollback()  # the process died: its chunk was never decided
            busy.close()
        with session_scope(sessions) as session:
            chunk = inbox.take_chunk(session=session, size=5)
            assert chunk is not None and (chunk.batch.id, chunk.start, chunk.end) == (first, 0, 3)
            inbox.chunk_done(session=session, chunk=chunk, now=NOW)
        with session_scope(sessions) as session:
            assert _taken(inbox.take_chunk(session=session, size=100)) == second
            assert session.get(InboxBatch, first).finished_at is not None  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_a_body_another_process_left_is_decided_without_a_restart(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server is running and idle; a body appears that no process is deciding (the
    process that queued it was killed). The server finds it by itself."""
    monkeypatch.setattr(groupcommit, "ORPHANS_SECONDS", 0.2)
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=10) as api:
        for name in ("left", "live"):
            created = api.post(
                "/api/v1/integrations",
                json={"name": name, "service": "checkout-api", "kind": "alertmanager"},
            )
            assert created.status_code == 201, created.text
        key = created.json()["key"]
        # One ordinary request: the server's writer is running, then idle.
        sent = api.post(f"/api/v1/integrations/{key}/alertmanager", json=firing_body("live", 1))
        assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text
        with session_scope(live_server.context.sessions) as session:
            _queue(session, "left", "left", 4)
        deadline = time.monotonic() + BOUND
        while True:
            found = samples(api.get("/metrics").text)
            if value(found, "tocsin_alerts_queued") == 0:
                break
            assert time.monotonic() < deadline, "the left body was never decided"
            time.sleep(0.05)
        listed = api.get("/api/v1/alerts", params={"limit": 100}).json()
        assert listed["total"] == 5
        assert sorted(a["title"] for a in listed["items"] if a["integration"] == "left") == [
            f"left{n}" for n in range(4)
        ]
