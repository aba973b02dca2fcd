"""``tocsin_alerts_queued`` and ``tocsin_alerts_queued_oldest_seconds``: what an SRE
watches during a storm is how many alerts were accepted but not decided yet, and for
how long, read through the real server's ``/metrics``."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.support.prometheus import samples, value

from tocsin.alerts import inbox
from tocsin.alerts.integrations import get_integration
from tocsin.db import session_scope

BOUND = 15.0  # seconds for the server to decide what waits


def _body(prefix: str, count: int) -> dict[str, Any]:
    return {
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"{prefix}{n}",
                    "service": "checkout-api",
                    "severity": "warning",
                },
                "annotations": {"summary": f"{prefix} {n}"},
                "startsAt": "2026-03-02T08:00:00Z",
                "fingerprint": f"{prefix}-{n}",
            }
            for n in range(count)
        ],
    }


def _scrape(api: httpx.Client) -> tuple[float, float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    found = samples(answer.text)
    return (
        value(found, "tocsin_alerts_queued"),
        value(found, "tocsin_alerts_queued_oldest_seconds"),
    )


def test_the_backlog_is_counted_until_the_server_decides_it(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=10) as api:
        created = api.post(
            "/api/v1/integrations",
            json={"name": "am", "service": "checkout-api", "kind": "alertmanager"},
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert _scrape(api) == (0.0, 0.0)

        # Two bodies a process took in before it stopped, left for this one to decide.
        context = live_server.context
        arrived = live_server.clock.now()
        with session_scope(context.sessions) as session:
            integration = get_integration(session=session, name="am")
            for prefix, count in (("early", 7), ("later", 5)):
                inbox.queue_batch(
                    session=session,
                    integration=integration,
                    source="alertmanager",
                    body=_body(prefix, count),
                    total=count,
                    now=arrived,
                )
        live_server.clock.advance(timedelta(seconds=42))
        assert _scrape(api) == (12.0, 42.0)

        # A body too large to decide in its request is queued too, and wakes the
        # server's decider, which takes the bodies oldest first.
        large = inbox.INBOX_THRESHOLD + 1
        sent = api.post(f"/api/v1/integrations/{key}/alertmanager", json=_body("new", large))
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + BOUND
        while _scrape(api) != (0.0, 0.0):
            assert time.monotonic() < deadline, f"still waiting: {_scrape(api)}"
            time.sleep(0.05)
        alerts = api.get("/api/v1/alerts", params={"limit": 100})
        assert alerts.status_code == 200, alerts.text
        assert alerts.json()["total"] == 12 + large  # every accepted alert decided, once


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_backlog_is_read_from_the_inbox_index(live_server: LiveServer) -> None:
    """A year of finished bodies must not slow a scrape down."""
    engine = live_server.context.sessions.engine
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("DELETE FROM sqlite_stat1")
        connection.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES "
            "('alert_inbox', NULL, '100000'), "
            "('alert_inbox', 'ix_alert_inbox_open', '100000 1 1')"
        )
    engine.dispose()
    with engine.connect() as connection:
        compiled = inbox._BACKLOG.compile(connection)
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values())
        ).all()
    assert "INDEX ix_alert_inbox_open" in str(plan[0][-1]), plan
